import type { EgressPolicy } from '../domain/egress.js';
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

/** A kernel in privhelper's store: catalog name and package version (as its directory names it). */
export interface KernelRef {
  name: string;
  version: string;
}

/**
 * What vmd asks privhelper to boot. It names things only: privhelper finds the kernel in its
 * store, the VM's own disks (and the image they are based on), and the tap it assigned.
 */
export interface LaunchInput {
  vmId: string;
  memoryMib: number;
  vcpus: number;
  kernel: KernelRef;
  cmdline: { key: string; value: string }[];
  mac: string;
  /** The VM's RAM on a shareable memfd (VmSpec.sharedRam); absent for an ordinary VM. */
  sharedRam?: true;
}

/**
 * One disk of one VM: privhelper names it by the VM id (helper v2); the path is where it
 * lives, for display and for records written before.
 */
export interface VmDisk {
  vmId: string;
  path: string;
}

/** What a VM's disks are made from: the image, as imaged resolved it. */
export type DiskSource = Pick<ResolvedImage, 'id' | 'storeImage'>;

/** How a running VM's hypervisor is confined, as privhelper read it from the host kernel. */
export interface VmJail {
  uid: number;
  gid: number;
  layersApplied: string[];
  layersSkipped: string[];
  seccompMode: number;
  capEff: string;
  noNewPrivs: boolean;
  ownNamespaces: string[];
  memoryLimitBytes: number;
  pidsMax: number;
  cpuWeight: number;
}

/** Where a running VM's hypervisor can be reached, and (when privhelper reports it) its jail. */
export interface VmProcess {
  pid: number;
  agentSocket: string;
  consoleLog: string;
  jail?: VmJail;
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
  /** Releasing the tap also drops the VM's fence (privhelper does both). */
  releaseTap(vmId: string): Promise<void>;
  /** Pins the VM's tap to its address and MAC and applies its egress policy; only its own rules change. */
  fenceVm(input: { vmId: string; ipv4: string; mac: string; egress: EgressPolicy }): Promise<void>;
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
  /** Stops the vCPUs in memory; false when already paused. */
  pause(vmId: string): Promise<boolean>;
  /** Runs a paused VM's vCPUs again; false when it was running. */
  resume(vmId: string): Promise<boolean>;
  /** Saves state and RAM to privhelper's disk and ends the process. */
  suspend(vmId: string): Promise<SavedStateView>;
  /** Starts a suspended VM from its saved state (same input as its launch); the state is deleted once restored. */
  restore(input: LaunchInput): Promise<VmProcess & { state: SavedStateView }>;
  /** A VM's saved state, if it has one. */
  savedState(vmId: string): Promise<SavedStateView | undefined>;
  /** What privhelper holds per VM, read from the host (not from any record): finds orphans. */
  listHeld(): Promise<HostHoldings>;
  /** Gives up everything privhelper holds for a VM (process, tap, disk and run dirs). */
  releaseVm(vmId: string): Promise<ReleasedVm>;
}

/** A suspended VM's saved state as privhelper reports it. */
export interface SavedStateView {
  sizeBytes: number;
  saveMs: number;
  savedAt: Date | undefined;
}

export interface HeldVm {
  vmId: string;
  diskDir: boolean;
  diskFiles: string[];
  runDir: boolean;
  tap: string;
  hypervisorPid: number;
  /** The VM's fence (its nft elements pin `fenceTap` to this address and MAC); "" when none. */
  fenceIpv4: string;
  fenceMac: string;
  fenceTap: string;
  /** Bytes its saved state (suspend) occupies; 0 when none. */
  savedStateBytes: number;
}

/** A directory in privhelper's snapshot root: finished, or `.partial-` (being written when `inProgress`). */
export interface HeldSnapshot {
  snapshotId: string;
  partial: boolean;
  inProgress: boolean;
  sizeBytes: number;
}

export interface HostHoldings {
  vms: HeldVm[];
  dnsRecords: string[];
  snapshots: HeldSnapshot[];
}

export interface ReleasedVm {
  killedHypervisor: boolean;
  tap: string;
  removedDiskDir: boolean;
  removedRunDir: boolean;
}
