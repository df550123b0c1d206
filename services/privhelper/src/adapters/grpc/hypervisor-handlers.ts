import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { helperv1, type googleProtobuf } from '@banger/api';
import { InvalidArgumentError, NotFoundError, unary } from '@banger/runtime';
import type { Hypervisor, VmHandle } from '../../domain/hypervisor/driver.js';
import { vmRunPaths } from '../../domain/hypervisor/rundir.js';
import { validateLaunchSpec, type DiskRequest, type HostRoots, type LaunchRequest } from '../../domain/vmspec/spec.js';

export interface HypervisorDeps {
  hypervisor: () => Promise<Hypervisor>;
  roots: HostRoots;
  netns: string | null;
}

function formatOf(f: helperv1.DiskFormat, field: string): DiskRequest['format'] {
  if (f === helperv1.DiskFormat.DISK_FORMAT_QCOW2) return 'qcow2';
  if (f === helperv1.DiskFormat.DISK_FORMAT_RAW) return 'raw';
  throw new InvalidArgumentError(field, 'must be RAW or QCOW2', 'BAD_FIELD');
}

/** Proto spec → validation input. Disks are matched by id: `root` (required) and `work`. */
export function launchRequestFromProto(spec: helperv1.HypervisorSpec | undefined, netns: string | null): LaunchRequest {
  if (!spec) throw new InvalidArgumentError('spec', 'is required', 'BAD_FIELD');
  if (spec.kind === helperv1.HypervisorKind.HYPERVISOR_KIND_FIRECRACKER) {
    throw new InvalidArgumentError('spec.kind', 'firecracker is not available on this host; use QEMU', 'UNSUPPORTED_HYPERVISOR');
  }
  const disks = new Map<string, DiskRequest>();
  spec.disks.forEach((d, i) => {
    if (d.id !== 'root' && d.id !== 'work') throw new InvalidArgumentError(`spec.disks[${i}].id`, 'must be "root" or "work"', 'BAD_FIELD');
    if (disks.has(d.id)) throw new InvalidArgumentError(`spec.disks[${i}].id`, `duplicate disk ${d.id}`, 'BAD_FIELD');
    disks.set(d.id, { path: d.path, format: formatOf(d.format, `spec.disks[${i}].format`) });
  });
  const rootDisk = disks.get('root');
  if (!rootDisk) throw new InvalidArgumentError('spec.disks', 'a disk with id "root" is required', 'BAD_FIELD');
  const workDisk = disks.get('work');
  return {
    vmId: spec.vmId,
    memoryMib: spec.memoryMib,
    vcpus: spec.vcpus,
    kernelPath: spec.kernelPath,
    ...(spec.initrdPath ? { initrdPath: spec.initrdPath } : {}),
    cmdline: spec.cmdline.map((a) => (a.value === '' ? { key: a.key } : { key: a.key, value: a.value })),
    rootDisk,
    ...(workDisk ? { workDisk } : {}),
    ...(spec.network && spec.network.tap !== ''
      ? { net: { tap: spec.network.tap, mac: spec.network.mac, ...(netns ? { netns } : {}) } }
      : {}),
  };
}

function durationMs(d: googleProtobuf.Duration | undefined, fallback: number): number {
  if (!d) return fallback;
  return d.seconds * 1000 + Math.floor(d.nanos / 1e6);
}

function toProcess(h: VmHandle, runRoot: string): helperv1.HypervisorProcess {
  const paths = vmRunPaths(runRoot, h.vmId);
  return {
    vmId: h.vmId,
    pid: h.pid,
    kind: helperv1.HypervisorKind.HYPERVISOR_KIND_QEMU,
    accel: h.accel === 'kvm' ? helperv1.Accel.ACCEL_KVM : helperv1.Accel.ACCEL_TCG,
    startedAt: undefined,
    sockets: { controlPath: paths.qmpSocket, agentPath: paths.agentSocket, consoleLogPath: paths.consoleLog, pidFile: paths.pidFile },
  };
}

export function hypervisorHandlers(deps: HypervisorDeps): Record<string, unknown> {
  const { roots } = deps;
  return {
    launchHypervisor: unary(async (req: helperv1.LaunchHypervisorRequest): Promise<helperv1.LaunchHypervisorResponse> => {
      const spec = await validateLaunchSpec(launchRequestFromProto(req.spec, deps.netns), roots);
      const handle = await (await deps.hypervisor()).launch(spec);
      return { process: toProcess(handle, roots.runRoot) };
    }),
    stopHypervisor: unary(async (req: helperv1.StopHypervisorRequest): Promise<helperv1.StopHypervisorResponse> => {
      const outcome = await (await deps.hypervisor()).stopGraceful(req.vmId, durationMs(req.timeout, 30_000));
      return { wasRunning: outcome !== 'not_running', forced: outcome === 'quit' || outcome === 'killed', exit: undefined };
    }),
    killHypervisor: unary(async (req: helperv1.KillHypervisorRequest): Promise<helperv1.KillHypervisorResponse> => {
      const outcome = await (await deps.hypervisor()).kill(req.vmId);
      return { wasRunning: outcome !== 'not_running' };
    }),
    waitHypervisor: unary(async (req: helperv1.WaitHypervisorRequest, ctx): Promise<helperv1.WaitHypervisorResponse> => {
      // Unset timeout: wait until just before the call's deadline (the driver caps waits at ten minutes).
      const untilDeadline = ctx.deadline === undefined ? 60_000 : Math.min(600_000, Math.max(0, ctx.deadline - Date.now() - 250));
      try {
        await (await deps.hypervisor()).wait(req.vmId, durationMs(req.timeout, untilDeadline));
      } catch (err) {
        // The contract answers a timeout with exited=false, not an error.
        if ((err as { reason?: unknown }).reason === 'VM_STILL_RUNNING') return { exited: false, exit: undefined };
        throw err;
      }
      return { exited: true, exit: undefined };
    }),
    findHypervisor: unary(async (req: helperv1.FindHypervisorRequest): Promise<helperv1.FindHypervisorResponse> => {
      const handle = await (await deps.hypervisor()).find(req.vmId);
      if (!handle) throw new NotFoundError('hypervisor process for vm', req.vmId, 'VM_NOT_RUNNING');
      return { process: toProcess(handle, roots.runRoot) };
    }),
    listHypervisors: unary(async (): Promise<helperv1.ListHypervisorsResponse> => {
      const hv = await deps.hypervisor();
      const ids = await readdir(join(roots.runRoot, 'vms')).catch(() => [] as string[]);
      const found = await Promise.all(ids.map((id) => hv.find(id).catch(() => undefined)));
      return { processes: found.filter((h): h is VmHandle => h !== undefined).map((h) => toProcess(h, roots.runRoot)) };
    }),
  };
}
