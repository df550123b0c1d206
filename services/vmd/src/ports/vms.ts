import type { DnsRecord, NewVm, Vm, VmPatch, VmState } from '../domain/vm.js';

export interface VmFilter {
  states?: readonly VmState[];
  /** Image id or name. */
  image?: string;
}

/**
 * vmd's VMs as the use cases keep them (PgVmRepo over the store). State changes only go
 * through `transition`, which applies the state machine (domain/vm-state.ts) to the write
 * itself, so a VM moved by another process meanwhile refuses it (VM_STATE_CHANGED).
 */
export interface VmRepository {
  /** Name, id or unique id prefix (already validated); NOT_FOUND, or INVALID_ARGUMENT listing the matches when ambiguous. */
  findByRef(ref: string): Promise<Vm>;
  findByName(name: string): Promise<Vm | undefined>;
  getById(id: string): Promise<Vm>;
  list(filter?: VmFilter): Promise<Vm[]>;
  /** Addresses currently reserved by any VM. */
  usedIpv4(): Promise<string[]>;
  /** Records a new VM; ALREADY_EXISTS naming the field when its name, address, MAC or tap is taken. */
  insert(vm: NewVm): Promise<Vm>;
  update(id: string, patch: VmPatch): Promise<Vm>;
  transition(id: string, to: VmState, patch?: VmPatch): Promise<Vm>;
  /** Removes the row; false when it was already gone. */
  delete(id: string): Promise<boolean>;
  touch(id: string): Promise<Vm>;
  dnsRecords(): Promise<DnsRecord[]>;
}
