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
}

/** Where a running VM's hypervisor can be reached. */
export interface VmProcess {
  pid: number;
  agentSocket: string;
  consoleLog: string;
}

/**
 * privhelper as vmd sees it: the privileged verbs, behind a port so use cases stay testable
 * with a fake. Every verb is idempotent, so retries and rollbacks are safe.
 */
export interface HostHelper {
  readiness(): Promise<HostReadiness>;
  ensureNetwork(net: GuestNetwork): Promise<void>;
  acquireTap(vmId: string): Promise<string>;
  releaseTap(vmId: string): Promise<void>;
  syncDns(records: { name: string; ipv4: string }[]): Promise<void>;
  /** Returns where the overlay lives (for display); `image` is its id in privhelper's store. */
  createRootOverlay(vmId: string, image: string): Promise<string>;
  removeRootOverlay(vmId: string): Promise<void>;
  createWorkDisk(vmId: string, image: string, sizeBytes: number): Promise<string>;
  resizeWorkDisk(vmId: string, sizeBytes: number): Promise<number>;
  removeWorkDisk(vmId: string): Promise<void>;
  launch(input: LaunchInput): Promise<VmProcess>;
  stop(vmId: string, timeoutMs: number): Promise<{ wasRunning: boolean; forced: boolean }>;
  kill(vmId: string): Promise<{ wasRunning: boolean }>;
  find(vmId: string): Promise<VmProcess | undefined>;
  list(): Promise<(VmProcess & { vmId: string })[]>;
}
