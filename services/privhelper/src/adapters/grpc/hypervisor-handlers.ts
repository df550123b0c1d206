import { readdir } from 'node:fs/promises';
import { helperv2, type googleProtobuf } from '@banger/api';
import { InvalidArgumentError, NotFoundError, unary } from '@banger/runtime';
import type { LaunchVm } from '../../app/launch-vm.js';
import type { ExitView, Hypervisor, JailView, VmHandle } from '../../domain/hypervisor/driver.js';
import { vmRunPaths } from '../../domain/hypervisor/rundir.js';
import type { LaunchRequest } from '../../domain/vmspec/spec.js';

export interface HypervisorDeps {
  hypervisor: () => Promise<Hypervisor>;
  launch: LaunchVm;
  runVmsDir: string;
}

/** Proto spec → launch request (validated by the use case). */
export function launchRequestFromProto(spec: helperv2.HypervisorSpec | undefined): LaunchRequest {
  if (!spec) throw new InvalidArgumentError('spec', 'is required', 'BAD_FIELD');
  if (spec.kind === helperv2.HypervisorKind.HYPERVISOR_KIND_FIRECRACKER) {
    throw new InvalidArgumentError('spec.kind', 'firecracker is not available on this host; use QEMU', 'UNSUPPORTED_HYPERVISOR');
  }
  if (spec.accel !== helperv2.Accel.ACCEL_UNSPECIFIED && spec.accel !== helperv2.Accel.ACCEL_AUTO) {
    // The accelerator is the host probe's choice; a caller cannot force one the probe refused.
    throw new InvalidArgumentError('spec.accel', 'must be unspecified or AUTO: privhelper picks KVM or TCG from the host probe', 'ACCEL_NOT_SELECTABLE');
  }
  return {
    vmId: spec.vmId,
    memoryMib: spec.memoryMib,
    vcpus: spec.vcpus,
    kernel: spec.kernel,
    cmdline: spec.cmdline.map((a) => (a.value === '' ? { key: a.key } : { key: a.key, value: a.value })),
    workDisk: spec.workDisk,
    ...(spec.network ? { mac: spec.network.mac } : {}),
    ...(spec.sharedRam ? { sharedRam: true } : {}),
  };
}

function durationMs(d: googleProtobuf.Duration | undefined, fallback: number): number {
  if (!d) return fallback;
  return d.seconds * 1000 + Math.floor(d.nanos / 1e6);
}

function toJail(j: JailView | undefined): helperv2.Jail | undefined {
  if (!j) return undefined;
  return {
    uid: j.uid,
    gid: j.gid,
    layersApplied: [...j.applied],
    layersSkipped: [...j.skipped],
    seccompMode: j.seccompMode,
    capEff: j.capEff,
    capBnd: j.capBnd,
    noNewPrivs: j.noNewPrivs,
    ownNamespaces: [...j.ownNamespaces],
    memoryLimitBytes: j.limits?.memoryBytes ?? 0,
    pidsMax: j.limits?.pids ?? 0,
    cpuWeight: j.limits?.cpu ?? 0,
    cgroups: [...j.cgroups],
  };
}

function toExit(e: ExitView | undefined): helperv2.ExitInfo | undefined {
  return e && { exitCode: e.code, signal: e.signal };
}

/** A handle with its live jail, as every verb that names a process reports it. */
export async function toProcess(hv: Hypervisor, h: VmHandle, runVmsDir: string): Promise<helperv2.HypervisorProcess> {
  const paths = vmRunPaths(runVmsDir, h.vmId);
  const jail = toJail(await hv.jail(h.vmId));
  return {
    vmId: h.vmId,
    pid: h.pid,
    kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU,
    accel: h.accel === 'kvm' ? helperv2.Accel.ACCEL_KVM : helperv2.Accel.ACCEL_TCG,
    startedAt: undefined,
    sockets: { controlPath: paths.qmpSocket, agentPath: paths.agentSocket, consoleLogPath: paths.consoleLog, pidFile: paths.pidFile },
    jail,
  };
}

export function hypervisorHandlers(deps: HypervisorDeps): Record<string, unknown> {
  const { runVmsDir } = deps;
  return {
    launchHypervisor: unary(async (req: helperv2.LaunchHypervisorRequest): Promise<helperv2.LaunchHypervisorResponse> => {
      const handle = await deps.launch.run(launchRequestFromProto(req.spec));
      return { process: await toProcess(await deps.hypervisor(), handle, runVmsDir) };
    }),
    stopHypervisor: unary(async (req: helperv2.StopHypervisorRequest): Promise<helperv2.StopHypervisorResponse> => {
      const hv = await deps.hypervisor();
      const outcome = await hv.stopGraceful(req.vmId, durationMs(req.timeout, 30_000));
      const exit = outcome === 'not_running' ? undefined : toExit(await hv.exit(req.vmId));
      return { wasRunning: outcome !== 'not_running', forced: outcome === 'quit' || outcome === 'killed', exit };
    }),
    killHypervisor: unary(async (req: helperv2.KillHypervisorRequest): Promise<helperv2.KillHypervisorResponse> => {
      const outcome = await (await deps.hypervisor()).kill(req.vmId);
      return { wasRunning: outcome !== 'not_running' };
    }),
    waitHypervisor: unary(async (req: helperv2.WaitHypervisorRequest, ctx): Promise<helperv2.WaitHypervisorResponse> => {
      // Unset timeout: wait until just before the call's deadline (the driver caps waits at ten minutes).
      const untilDeadline = ctx.deadline === undefined ? 60_000 : Math.min(600_000, Math.max(0, ctx.deadline - Date.now() - 250));
      const hv = await deps.hypervisor();
      try {
        await hv.wait(req.vmId, durationMs(req.timeout, untilDeadline));
      } catch (err) {
        // The contract answers a timeout with exited=false, not an error.
        if ((err as { reason?: unknown }).reason === 'VM_STILL_RUNNING') return { exited: false, exit: undefined };
        throw err;
      }
      return { exited: true, exit: toExit(await hv.exit(req.vmId)) };
    }),
    findHypervisor: unary(async (req: helperv2.FindHypervisorRequest): Promise<helperv2.FindHypervisorResponse> => {
      const hv = await deps.hypervisor();
      const handle = await hv.find(req.vmId);
      if (!handle) throw new NotFoundError('hypervisor process for vm', req.vmId, 'VM_NOT_RUNNING');
      return { process: await toProcess(hv, handle, runVmsDir) };
    }),
    listHypervisors: unary(async (): Promise<helperv2.ListHypervisorsResponse> => {
      const hv = await deps.hypervisor();
      const ids = await readdir(runVmsDir).catch(() => [] as string[]);
      const found = await Promise.all(ids.map((id) => hv.find(id).catch(() => undefined)));
      const running = found.filter((h): h is VmHandle => h !== undefined);
      return { processes: await Promise.all(running.map((h) => toProcess(hv, h, runVmsDir))) };
    }),
  };
}
