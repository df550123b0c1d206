import type { NewVm, VmPatch, VmRecord } from '@banger/store';

/** vmd's VM rows as the lifecycle use cases write them (VmStore implements most of it). */
export interface VmWriter {
  findByName(name: string): Promise<VmRecord | undefined>;
  usedIpv4(): Promise<string[]>;
  insert(vm: NewVm): Promise<VmRecord>;
  update(id: string, patch: VmPatch): Promise<VmRecord>;
  delete(id: string): Promise<void>;
  /** name → address of every VM that has one, for the `.vm` DNS responder. */
  dnsRecords(): Promise<{ name: string; ipv4: string }[]>;
}
