import type { Realpath } from './confine.js';
import { confineAny, confineLexical } from './confine.js';
import { realpath } from 'node:fs/promises';
import type { CmdlineArg } from './cmdline.js';
import { validateCmdline } from './cmdline.js';
import { invalid } from './errors.js';
import type { VmRunPaths } from '../hypervisor/rundir.js';
import { MAX_UNIX_SOCKET_PATH, vmRunPaths } from '../hypervisor/rundir.js';

export type DiskFormat = 'qcow2' | 'raw';

export interface DiskRequest {
  readonly path: string;
  readonly format: DiskFormat;
}

/** What a caller (vmd, via the RPC layer) asks for; nothing in it is trusted yet. */
export interface LaunchRequest {
  readonly vmId: string;
  readonly memoryMib: number;
  readonly vcpus: number;
  readonly kernelPath: string;
  readonly initrdPath?: string;
  readonly cmdline: readonly CmdlineArg[];
  readonly rootDisk: DiskRequest;
  readonly workDisk?: DiskRequest;
  readonly net?: { readonly tap: string; readonly mac: string; readonly netns?: string };
}

/** Configured bounds; defaults keep a typo from asking for a terabyte. */
export interface LaunchLimits {
  readonly minMemoryMib: number;
  readonly maxMemoryMib: number;
  readonly maxVcpus: number;
}

export const DEFAULT_LIMITS: LaunchLimits = { minMemoryMib: 64, maxMemoryMib: 32768, maxVcpus: 16 };

/** banger's own directories: files may only be read from `stateDirs`, runtime files go under `runRoot`. */
export interface HostRoots {
  readonly stateDirs: readonly string[];
  readonly runRoot: string;
}

declare const validated: unique symbol;

/** A LaunchRequest that passed {@link validateLaunchSpec}: only this type reaches a driver. */
export interface LaunchSpec {
  readonly [validated]: true;
  readonly vmId: string;
  readonly memoryMib: number;
  readonly vcpus: number;
  readonly kernelPath: string;
  readonly initrdPath?: string;
  readonly cmdline: readonly CmdlineArg[];
  readonly rootDisk: DiskRequest;
  readonly workDisk?: DiskRequest;
  readonly net?: { readonly tap: string; readonly mac: string; readonly netns?: string };
  readonly run: VmRunPaths;
}

export const VM_ID_RE = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const TAP_RE = /^[a-z0-9][a-z0-9_-]{0,14}$/;
const NETNS_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

export function validateVmId(vmId: unknown): string {
  if (typeof vmId !== 'string' || !VM_ID_RE.test(vmId)) {
    throw invalid('vm_id', 'BAD_FIELD', 'vm id must be 1-64 characters of [a-z0-9-], not starting or ending with -');
  }
  return vmId;
}

/** Lower-case, unicast, non-zero; a multicast MAC silently breaks the guest's networking. */
export function validateMac(mac: unknown): string {
  if (typeof mac !== 'string' || !MAC_RE.test(mac)) throw invalid('net.mac', 'BAD_FIELD', 'mac must be xx:xx:xx:xx:xx:xx (lower-case hex)');
  const first = parseInt(mac.slice(0, 2), 16);
  if ((first & 1) === 1) throw invalid('net.mac', 'BAD_FIELD', 'mac must be unicast');
  if (mac === '00:00:00:00:00:00') throw invalid('net.mac', 'BAD_FIELD', 'mac must not be zero');
  return mac;
}

function intInRange(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(field, 'BAD_FIELD', `${field} must be an integer`);
  if (v < min || v > max) throw invalid(field, 'OUT_OF_RANGE', `${field} must be within ${min}..${max}`);
  return v;
}

function diskFormat(field: string, f: unknown): DiskFormat {
  if (f !== 'qcow2' && f !== 'raw') throw invalid(field, 'BAD_FIELD', `${field} must be qcow2 or raw`);
  return f;
}

/**
 * Validates every field of a launch request and confines every path, so the QEMU adapter
 * never sees a value it has to think about. Throws INVALID_ARGUMENT naming the first bad field.
 */
export async function validateLaunchSpec(
  req: LaunchRequest,
  roots: HostRoots,
  limits: LaunchLimits = DEFAULT_LIMITS,
  rp: Realpath = realpath,
): Promise<LaunchSpec> {
  const vmId = validateVmId(req.vmId);
  const memoryMib = intInRange('memory_mib', req.memoryMib, limits.minMemoryMib, limits.maxMemoryMib);
  const vcpus = intInRange('vcpus', req.vcpus, 1, limits.maxVcpus);
  if (!Array.isArray(req.cmdline)) throw invalid('cmdline', 'BAD_FIELD', 'cmdline must be a list');
  const cmdline = validateCmdline(req.cmdline);
  const kernelPath = await confineAny(roots.stateDirs, str('kernel_path', req.kernelPath), 'kernel_path', rp);
  const initrdPath =
    req.initrdPath === undefined ? undefined : await confineAny(roots.stateDirs, str('initrd_path', req.initrdPath), 'initrd_path', rp);
  obj('root_disk', req.rootDisk);
  if (req.workDisk !== undefined) obj('work_disk', req.workDisk);
  if (req.net !== undefined) obj('net', req.net);
  const rootDisk: DiskRequest = {
    path: await confineAny(roots.stateDirs, str('root_disk.path', req.rootDisk.path), 'root_disk.path', rp),
    format: diskFormat('root_disk.format', req.rootDisk.format),
  };
  const workDisk: DiskRequest | undefined =
    req.workDisk === undefined
      ? undefined
      : {
          path: await confineAny(roots.stateDirs, str('work_disk.path', req.workDisk.path), 'work_disk.path', rp),
          format: diskFormat('work_disk.format', req.workDisk.format),
        };
  if (workDisk !== undefined && workDisk.path === rootDisk.path) {
    throw invalid('work_disk.path', 'BAD_FIELD', 'work disk and root disk must differ');
  }
  let net: LaunchSpec['net'];
  if (req.net !== undefined) {
    const tap = str('net.tap', req.net.tap);
    if (!TAP_RE.test(tap)) throw invalid('net.tap', 'BAD_FIELD', 'tap name must be 1-15 characters of [a-z0-9_-]');
    const mac = validateMac(req.net.mac);
    if (req.net.netns !== undefined && (typeof req.net.netns !== 'string' || !NETNS_RE.test(req.net.netns))) {
      throw invalid('net.netns', 'BAD_FIELD', 'netns name must be 1-64 characters of [A-Za-z0-9_.-]');
    }
    net = req.net.netns === undefined ? { tap, mac } : { tap, mac, netns: req.net.netns };
  }
  const runRoot = confineLexical('/', str('run_root', roots.runRoot), 'run_root');
  const run = vmRunPaths(runRoot, vmId);
  for (const sock of [run.qmpSocket, run.agentSocket]) {
    if (Buffer.byteLength(sock) > MAX_UNIX_SOCKET_PATH) throw invalid('vm_id', 'OUT_OF_RANGE', `socket path ${sock} is too long`);
  }
  const spec = {
    vmId,
    memoryMib,
    vcpus,
    kernelPath,
    cmdline,
    rootDisk,
    run,
    ...(initrdPath === undefined ? {} : { initrdPath }),
    ...(workDisk === undefined ? {} : { workDisk }),
    ...(net === undefined ? {} : { net }),
  };
  return spec as unknown as LaunchSpec;
}

/** Paths reach QEMU's option parser, which splits on commas; whitespace/control bytes have no business there either. */
const PATH_CHARS_RE = /^[^,\s\p{Cc}]+$/u;

function obj(field: string, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, 'BAD_FIELD', `${field} must be an object`);
}

function str(field: string, v: unknown): string {
  if (typeof v !== 'string') throw invalid(field, 'BAD_FIELD', `${field} must be a string`);
  if (!PATH_CHARS_RE.test(v)) throw invalid(field, 'BAD_FIELD', `${field} must not contain commas, whitespace or control characters`);
  return v;
}
