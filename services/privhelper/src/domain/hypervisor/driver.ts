import type { FileHandle } from 'node:fs/promises';
import type { LaunchSpec } from '../vmspec/spec.js';

/**
 * What a driver launches: a validated spec plus what privhelper resolved for it (kernel files
 * from its store, the VM's disks it opened, the tap it assigned). The driver hands the open
 * disks to the hypervisor as descriptors.
 */
export interface LaunchInput {
  readonly spec: LaunchSpec;
  readonly kernelPath: string;
  readonly initrdPath: string;
  readonly disks: { readonly overlay: FileHandle; readonly base: FileHandle; readonly work?: FileHandle; readonly baseImage: string };
  readonly net?: { readonly tap: string; readonly mac: string; readonly netns?: string };
  /** Start paused, waiting for a saved state that loadState() then feeds in (a restore). */
  readonly incoming?: boolean;
  /**
   * Guest RAM on this memfd instead of anonymous memory: `share` for a VM whose snapshots share
   * their RAM, not shared (copy-on-write) for a clone of a sealed template. The driver hands it to
   * the jail; the caller closes its own fd after the launch.
   */
  readonly ram?: { readonly fd: number; readonly share: boolean };
}

/** Migration options for a VM whose RAM is on a memfd: x-ignore-shared leaves it out of the stream. */
export interface StateOptions {
  readonly ignoreShared?: boolean;
}

export type Accel = 'kvm' | 'tcg';

/** What the host can run, as reported by the capability probe (shown by `banger doctor`). */
export interface HostCapabilities {
  readonly accel: Accel;
  /** Why this accelerator was chosen, in words a user can act on. */
  readonly reason: string;
  readonly kvm: { readonly usable: boolean; readonly deviceNode: boolean; readonly cpuFlag: 'vmx' | 'svm' | null; readonly modules: readonly string[] };
  readonly qemuPath: string | null;
  readonly qemuVersion: string | null;
  readonly qemuImgPath: string | null;
  readonly tscKhz: number | null;
  readonly tun: boolean;
  readonly bridge: boolean;
  readonly nft: boolean;
  readonly vhostVsock: boolean;
  readonly cgroupV2: boolean;
}

/** A running (or just launched) VM as the driver knows it; enough to find it again later. */
export interface VmHandle {
  readonly vmId: string;
  readonly pid: number;
  readonly runDir: string;
  readonly accel: Accel;
  /** True when launch() found this VM already running and returned it instead of starting a second one. */
  readonly alreadyRunning?: boolean;
}

export type StopOutcome = 'graceful' | 'quit' | 'killed' | 'not_running';

/** How a hypervisor process ended, as its supervisor saw it (`signal` empty for a normal exit). */
export interface ExitView {
  readonly code: number;
  readonly signal: string;
}

/**
 * A running VM's jail: what the launch applied, and what the kernel reports about the live
 * process (so `vm show` and the tests see the truth, not the intent).
 */
export interface JailView {
  readonly uid: number;
  readonly gid: number;
  readonly applied: readonly string[];
  readonly skipped: readonly string[];
  readonly seccompMode: number;
  readonly capEff: string;
  readonly capBnd: string;
  readonly noNewPrivs: boolean;
  readonly ownNamespaces: readonly string[];
  readonly limits: { readonly memoryBytes: number; readonly pids: number; readonly cpu: number } | null;
  readonly cgroups: readonly string[];
}

export type VmRunState = 'running' | 'paused' | 'shutdown' | 'not_running' | 'unknown';

export interface VmDescription {
  readonly vmId: string;
  readonly state: VmRunState;
  readonly pid: number | null;
  readonly runDir: string;
  readonly accel: Accel | null;
  readonly argv: readonly string[] | null;
}

/**
 * One hypervisor behind one interface, so vmd never knows whether QEMU or Firecracker runs a VM.
 * Every verb is idempotent by VM id: launching a running VM returns its handle, stopping or
 * killing a stopped VM reports `not_running`, so vmd can retry and roll back freely.
 *
 * Firecracker seam (not implemented): a `FirecrackerDriver` would take the same LaunchSpec but
 * needs raw disks (see `DiskManager.createRawRootCopy`), an ELF vmlinux with a kernel built with
 * VIRTIO_MMIO_CMDLINE_DEVICES, vsock instead of virtio-serial for the agent (agent.sock becomes
 * Firecracker's vsock UDS), its API socket in place of qmp.sock, and `SendCtrlAltDel` for
 * stopGraceful. The run-dir layout and the pid-file + cmdline rediscovery carry over.
 */
export interface Hypervisor {
  readonly kind: 'qemu' | 'firecracker';
  /** Starts the VM detached from the caller so it outlives the helper and vmd. */
  launch(input: LaunchInput): Promise<VmHandle>;
  /** Asks the guest to shut down, waits up to timeoutMs, then escalates (quit, then SIGKILL). */
  stopGraceful(vmId: string, timeoutMs: number): Promise<StopOutcome>;
  /** Ends the VM now (SIGKILL by verified pid). */
  kill(vmId: string): Promise<StopOutcome>;
  /** Resolves when the VM's process is gone; rejects with DEADLINE_EXCEEDED after timeoutMs. */
  wait(vmId: string, timeoutMs: number): Promise<void>;
  /** Finds a running VM again from its run dir (pid file + /proc cmdline check); undefined when not running. */
  find(vmId: string): Promise<VmHandle | undefined>;
  describe(vmId: string): Promise<VmDescription>;
  /** The jail of a running VM; undefined when it is not running. */
  jail(vmId: string): Promise<JailView | undefined>;
  /** How the VM's last process ended; undefined while it runs or when nothing was recorded. */
  exit(vmId: string): Promise<ExitView | undefined>;
  /** Deletes the run dir of a VM that is not running (FAILED_PRECONDITION while it runs); absent is fine. */
  remove(vmId: string): Promise<{ removed: boolean }>;
  /** Stops the vCPUs in memory; false when it was already paused. NOT_FOUND reason VM_NOT_RUNNING when it does not run. */
  pause(vmId: string): Promise<boolean>;
  /** Lets a paused VM's vCPUs run again; false when it was running. */
  resume(vmId: string): Promise<boolean>;
  /** Pauses the VM, writes its device state and RAM into `fd`, then ends its process. */
  saveAndQuit(vmId: string, fd: number, timeoutMs: number): Promise<void>;
  /**
   * Pauses the VM, writes its device state and RAM into `fd`, runs `whilePaused` (the disks are
   * flushed and quiet), then lets the vCPUs run again if they ran before, also when a step fails.
   * Answers how long the vCPUs were stopped.
   */
  saveAndContinue(vmId: string, fd: number, timeoutMs: number, whilePaused: () => Promise<void>, opts?: StateOptions): Promise<{ pauseMs: number }>;
  /** The spec and base image a running VM was launched with; undefined when it does not run. */
  launched(vmId: string): Promise<{ spec: LaunchSpec; baseImage: string; accel: Accel } | undefined>;
  /** Feeds a saved state from `fd` into a VM launched with `incoming`, then runs it. */
  loadState(vmId: string, fd: number, timeoutMs: number, opts?: StateOptions): Promise<void>;
  /**
   * The running VM's RAM memfd, read-only, as its QEMU holds it (so a restarted privhelper finds
   * it too); FAILED_PRECONDITION when the VM does not run on one.
   */
  openRam(vmId: string): Promise<FileHandle>;
}
