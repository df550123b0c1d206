import { FailedPreconditionError, ResourceExhaustedError } from '@banger/runtime/errors';
import type { VmRunPaths } from './rundir.js';

/**
 * The layers of a VM's jail, each applied by the jailer (packages/sys/native/jailer.c) or by
 * QEMU itself, and checked from outside by the tests (/proc/<qemu>/status, the cgroup files):
 *
 *   uid          a uid (and gid) of its own from a reserved range: no VM can signal or ptrace another
 *   no_new_privs and an empty capability bounding set
 *   namespaces   its own mount (a read-only tmpfs root: /usr, its kernel, a few /dev nodes), network
 *                (empty: the tap is a descriptor), IPC and UTS namespaces
 *   seccomp      QEMU's `-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny`
 *   cgroup       a cgroup with a memory limit, a pids limit and a CPU weight
 *
 * A layer the host cannot apply fails the launch, unless `[privhelper] jail_optional_layers`
 * names it; the launch record says which were skipped.
 */
export const JAIL_LAYERS = ['uid', 'no_new_privs', 'namespaces', 'seccomp', 'cgroup'] as const;
export type JailLayer = (typeof JAIL_LAYERS)[number];
/** The layers a host may lack (uid and no_new_privs always work for root). */
export const OPTIONAL_LAYERS: readonly JailLayer[] = ['namespaces', 'seccomp', 'cgroup'];

export interface JailConfig {
  readonly uidBase: number;
  readonly uidCount: number;
  readonly optional: readonly JailLayer[];
  /** QEMU's own memory beyond guest RAM (TCG's translation cache, device state, libraries). */
  readonly memoryOverheadMib: number;
  readonly pidsMax: number;
  /** Console log size at which the supervisor rotates it (one previous file kept). */
  readonly consoleMaxBytes: number;
}

/**
 * The top of the jail range is kept for the disk tools that parse bytes a guest wrote (e2fsck,
 * resize2fs, qemu-img on a stopped VM's disks): each run gets a uid no VM and no other run has.
 */
export const TOOL_UIDS = 16;

/** The lowest uid of the VM part of the range that no running VM uses. */
export function allocateUid(used: ReadonlySet<number>, cfg: Pick<JailConfig, 'uidBase' | 'uidCount'>): number {
  const vmUids = cfg.uidCount - TOOL_UIDS;
  for (let i = 0; i < vmUids; i++) {
    const uid = cfg.uidBase + i;
    if (!used.has(uid)) return uid;
  }
  throw new ResourceExhaustedError('JAIL_UIDS_EXHAUSTED', `all ${vmUids} VM uids of the jail range from ${cfg.uidBase} are in use`, { fields: { limit: 'privhelper.jail_uid_count' } });
}

/** The uids disk tools run as: the last TOOL_UIDS of the jail range. */
export function toolUids(cfg: Pick<JailConfig, 'uidBase' | 'uidCount'>): number[] {
  return Array.from({ length: TOOL_UIDS }, (_, i) => cfg.uidBase + cfg.uidCount - TOOL_UIDS + i);
}

export function inJailRange(uid: number, cfg: Pick<JailConfig, 'uidBase' | 'uidCount'>): boolean {
  return uid >= cfg.uidBase && uid < cfg.uidBase + cfg.uidCount;
}

/** A layer could not be applied: the launch stops, naming the layer and how to allow its absence. */
export function layerUnavailable(layer: JailLayer, why: string): FailedPreconditionError {
  return new FailedPreconditionError('JAIL_LAYER_UNAVAILABLE', `the ${layer} layer of the VM jail cannot be applied here: ${why}`, {
    fields: { layer, fix: `make it available, or allow VMs without it: [privhelper] jail_optional_layers = ["${layer}"]` },
  });
}

export interface JailPlan {
  readonly vmId: string;
  readonly uid: number;
  /** Mount point of the jail's tmpfs root (an empty root-owned directory). */
  readonly root: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly devs: readonly string[];
  readonly cgroupDirs: readonly string[];
  /** `/run/netns/<name>` of the VM network, when there is one. */
  readonly netnsPath?: string;
  readonly tap?: string;
  readonly clientGid: number;
  readonly consoleMaxBytes: number;
  readonly skip: readonly JailLayer[];
}

/** The jailer's argument vector (everything up to and including `--`). */
export function jailerArgs(plan: JailPlan, run: VmRunPaths, fds: { keep: number; qmp: number; agent: number; tap: number; ram?: { src: number; dst: number } }): string[] {
  const a = ['--id', plan.vmId, '--uid', String(plan.uid), '--gid', String(plan.uid), '--root', plan.root];
  a.push('--ro-bind', `${plan.kernel}:/boot/vmlinux`, '--ro-bind', `${plan.initrd}:/boot/initrd.img`);
  for (const d of plan.devs) a.push('--dev', d);
  for (const c of plan.cgroupDirs) a.push('--cgroup', c);
  if (plan.tap !== undefined) {
    if (plan.netnsPath !== undefined) a.push('--netns', plan.netnsPath);
    a.push('--tap', `${plan.tap}:${fds.tap}`);
  }
  if (fds.ram !== undefined) a.push('--ram-fd', `${fds.ram.src}:${fds.ram.dst}`);
  a.push('--listen', `${run.qmpSocket}:${fds.qmp}:0600:0`);
  a.push('--listen', `${run.agentSocket}:${fds.agent}:0660:${plan.clientGid}`);
  a.push('--console', run.consoleLog, '--console-gid', String(plan.clientGid), '--console-max', String(plan.consoleMaxBytes));
  a.push('--qemu-log', run.qemuLog, '--pid-file', run.pidFile, '--exit-file', run.exitJson, '--keep-fds', String(fds.keep));
  if (plan.skip.includes('namespaces')) a.push('--no-namespaces', '1');
  a.push('--');
  return a;
}
