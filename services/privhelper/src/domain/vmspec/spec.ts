import { withinBounds } from './bounds.js';
import type { CmdlineArg } from './cmdline.js';
import { validateCmdline } from './cmdline.js';
import { invalid } from './errors.js';
import type { VmRunPaths } from '../hypervisor/rundir.js';
import { MAX_UNIX_SOCKET_PATH, vmRunPaths } from '../hypervisor/rundir.js';
import { validateKernelRef, type KernelRef } from '../store/ids.js';

/**
 * What a caller (vmd, via the RPC layer) asks for; nothing in it is trusted yet. It names
 * things only: the kernel by name and version, the VM's own disks by the VM id, the tap by
 * the VM id too (the one AcquireTap assigned). No field is a host path.
 */
export interface LaunchRequest {
  readonly vmId: string;
  readonly memoryMib: number;
  readonly vcpus: number;
  readonly kernel: { readonly name?: unknown; readonly version?: unknown } | undefined;
  readonly cmdline: readonly CmdlineArg[];
  readonly workDisk: boolean;
  /** Guest MAC; absent for a VM without a NIC. */
  readonly mac?: string;
  /** Guest RAM on a memfd that snapshots can share (x-ignore-shared); absent means anonymous RAM. */
  readonly sharedRam?: boolean;
}

/** Per-VM bounds: the same `[vm]` bounds vmd applies, from the same config file. */
export interface LaunchLimits {
  readonly minMemoryMib: number;
  readonly maxMemoryMib: number;
  readonly minVcpus: number;
  readonly maxVcpus: number;
}

declare const validated: unique symbol;

/** A LaunchRequest that passed {@link validateLaunchSpec}: only this type reaches a driver. */
export interface LaunchSpec {
  readonly [validated]: true;
  readonly vmId: string;
  readonly memoryMib: number;
  readonly vcpus: number;
  readonly kernel: KernelRef;
  readonly cmdline: readonly CmdlineArg[];
  readonly workDisk: boolean;
  readonly mac?: string;
  /** Present (true) only when asked for, so the spec of an ordinary VM is exactly as before. */
  readonly sharedRam?: true;
  readonly run: VmRunPaths;
}

export const VM_ID_RE = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
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

function intIn(field: string, v: unknown, min: number, max: number, keys: { min: string; max: string }): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(field, 'BAD_FIELD', `${field} must be an integer`);
  return withinBounds(field, v, min, max, keys);
}

/**
 * Validates every field of a launch request against the configured bounds, so the QEMU
 * adapter never sees a value it has to think about. Throws naming the first bad field.
 */
export function validateLaunchSpec(req: LaunchRequest, runVmsDir: string, limits: LaunchLimits): LaunchSpec {
  const vmId = validateVmId(req.vmId);
  const memoryMib = intIn('memory_mib', req.memoryMib, limits.minMemoryMib, limits.maxMemoryMib, { min: 'vm.min_memory_mib', max: 'vm.max_memory_mib' });
  const vcpus = intIn('vcpus', req.vcpus, limits.minVcpus, limits.maxVcpus, { min: 'vm.min_vcpus', max: 'vm.max_vcpus' });
  if (!Array.isArray(req.cmdline)) throw invalid('cmdline', 'BAD_FIELD', 'cmdline must be a list');
  const cmdline = validateCmdline(req.cmdline);
  const kernel = validateKernelRef(req.kernel, 'spec.kernel');
  if (typeof req.workDisk !== 'boolean') throw invalid('work_disk', 'BAD_FIELD', 'work_disk must be a boolean');
  const mac = req.mac === undefined ? undefined : validateMac(req.mac);
  if (req.sharedRam !== undefined && typeof req.sharedRam !== 'boolean') throw invalid('shared_ram', 'BAD_FIELD', 'shared_ram must be a boolean');
  const run = vmRunPaths(runVmsDir, vmId);
  for (const sock of [run.qmpSocket, run.agentSocket]) {
    if (Buffer.byteLength(sock) > MAX_UNIX_SOCKET_PATH) throw invalid('vm_id', 'OUT_OF_RANGE', `socket path ${sock} is too long`);
  }
  const spec = { vmId, memoryMib, vcpus, kernel, cmdline, workDisk: req.workDisk, run, ...(mac === undefined ? {} : { mac }), ...(req.sharedRam === true ? { sharedRam: true } : {}) };
  return spec as unknown as LaunchSpec;
}
