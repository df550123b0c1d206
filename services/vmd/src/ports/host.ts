import type { DnsRecord } from '../domain/vm.js';
import type { ResolvedImage } from './images.js';

/** What vmd needs to know about the host before it commits to a create. */
export interface HostReadiness {
  accel: string;
  /** Failed prerequisite checks, each with the fix; empty when the host can run VMs. */
  blockers: { name: string; detail: string; fix: string }[];
}

export interface GuestNetwork {
  bridge: string;
  /** e.g. 172.30.0.0/24 */
  cidr: string;
  gateway: string;
  prefix: number;
}

export interface LaunchInput {
  vmId: string;
  memoryMib: number;
  vcpus: number;
  kernelPath: string;
  initrdPath: string;
  cmdline: { key: string; value: string }[];
  rootDiskPath: string;
  workDiskPath: string;
  tap: string;
  mac: string;
}

/**
 * One disk of one VM, by both names privhelper knows it under, so use cases never choose: the
 * adapter sends whichever the helper's API takes (a path today, the VM id with helper v2).
 */
export interface VmDisk {
  vmId: string;
  path: string;
}

/** What a VM's disks are made from: the image, as imaged resolved it. */
export type DiskSource = Pick<ResolvedImage, 'id' | 'rootfsPath' | 'workSeedPath'>;

/** Where a running VM's hypervisor can be reached. */
export interface VmProcess {
  pid: number;
  agentSocket: string;
  consoleLog: string;
}

/**
 * privhelper as vmd sees it: the privileged verbs, behind a port so use cases stay testable
 * with a fake. Every verb is idempotent, so retries and rollbacks are safe. This port and its
 * adapter (adapters/helper-client.ts) are the only places that know privhelper's API; the
 * launch input is built in app/launch-input.ts.
 */
export interface HostHelper {
  readiness(): Promise<HostReadiness>;
  ensureNetwork(net: GuestNetwork): Promise<void>;
  acquireTap(vmId: string): Promise<string>;
  releaseTap(vmId: string): Promise<void>;
  syncDns(records: DnsRecord[]): Promise<void>;
  /** The VM's copy-on-write root disk over the image; answers its path. */
  createRootOverlay(vmId: string, image: DiskSource): Promise<string>;
  removeRootOverlay(disk: VmDisk): Promise<void>;
  /** The VM's work disk from the image's seed, at least `sizeBytes`; answers its path. */
  createWorkDisk(vmId: string, image: DiskSource, sizeBytes: number): Promise<string>;
  resizeWorkDisk(disk: VmDisk, sizeBytes: number): Promise<number>;
  removeWorkDisk(disk: VmDisk): Promise<void>;
  launch(input: LaunchInput): Promise<VmProcess>;
  stop(vmId: string, timeoutMs: number): Promise<{ wasRunning: boolean; forced: boolean }>;
  kill(vmId: string): Promise<{ wasRunning: boolean }>;
  find(vmId: string): Promise<VmProcess | undefined>;
  list(): Promise<(VmProcess & { vmId: string })[]>;
}
