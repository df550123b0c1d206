import { vmv1, type googleProtobuf } from '@banger/api';
import { FailedPreconditionError, serverStream, unary } from '@banger/runtime';
import { promoteVm, pruneVms, resizeWorkDisk, type VmLifecycle, type VmLifecycleDeps } from '../../app/vm-lifecycle.js';
import type { ImageCatalog } from '../../ports/images.js';
import type { ProcStats } from '../stats/proc-stats.js';
import { storedVmEventToProto } from './events.js';
import { streamOperation, type StreamOperationDeps } from '@banger/operations';
import { vmToProto } from './vm-convert.js';

export interface LifecycleHandlerDeps extends StreamOperationDeps {
  lifecycle: VmLifecycle;
  lifecycleDeps: Pick<VmLifecycleDeps, 'vms' | 'host' | 'locks'>;
  stats: ProcStats;
  images: ImageCatalog;
}

const DEFAULT_STOP_MS = 30_000;

function durationMs(d: googleProtobuf.Duration | undefined, fallback: number): number {
  if (!d || (d.seconds === 0 && d.nanos === 0)) return fallback;
  return d.seconds * 1000 + Math.floor(d.nanos / 1e6);
}

export function lifecycleHandlers(deps: LifecycleHandlerDeps): Record<string, unknown> {
  const { lifecycle } = deps;
  return {
    startVm: serverStream<vmv1.StartVmRequest, vmv1.StartVmResponse>(async (req, ctx, send) => {
      await streamOperation(deps, ctx, { kind: 'vm_start', target: req.ref, cancelOnDetach: false }, (op) => lifecycle.start(req.ref, req.noWait, op), (e) =>
        send({ event: storedVmEventToProto(e) }),
      );
    }),
    restartVm: serverStream<vmv1.RestartVmRequest, vmv1.RestartVmResponse>(async (req, ctx, send) => {
      await streamOperation(
        deps,
        ctx,
        { kind: 'vm_restart', target: req.ref, cancelOnDetach: false },
        async (op) => {
          await lifecycle.stop(req.ref, durationMs(req.stopTimeout, DEFAULT_STOP_MS));
          return lifecycle.start(req.ref, req.noWait, op);
        },
        (e) => send({ event: storedVmEventToProto(e) }),
      );
    }),
    stopVm: unary<vmv1.StopVmRequest, vmv1.StopVmResponse>(async (req) => {
      const vm = await lifecycle.stop(req.ref, durationMs(req.timeout, DEFAULT_STOP_MS));
      return { vm: vmToProto(vm), forced: false };
    }),
    killVm: unary<vmv1.KillVmRequest, vmv1.KillVmResponse>(async (req) => ({ vm: vmToProto(await lifecycle.kill(req.ref)) })),
    deleteVm: unary<vmv1.DeleteVmRequest, vmv1.DeleteVmResponse>(async (req) => ({
      vm: vmToProto(await lifecycle.delete(req.ref, { stopTimeoutMs: req.force ? 1 : DEFAULT_STOP_MS })),
    })),
    resizeWorkDisk: unary<vmv1.ResizeWorkDiskRequest, vmv1.ResizeWorkDiskResponse>(async (req) => ({
      vm: vmToProto(await resizeWorkDisk(deps.lifecycleDeps, req.ref, req.sizeBytes)),
    })),
    pruneVms: unary<vmv1.PruneVmsRequest, vmv1.PruneVmsResponse>(async (req) => {
      const olderThan = durationMs(req.olderThan, 0);
      const deleted = await pruneVms(lifecycle, deps.lifecycleDeps.vms, olderThan, req.dryRun);
      return { deleted: deleted.map((vm) => vmToProto(vm)) };
    }),
    promoteVm: unary<vmv1.PromoteVmRequest, vmv1.PromoteVmResponse>(async (req) => ({
      image: await promoteVm({ ...deps.lifecycleDeps, images: deps.images }, req.ref, req.imageName),
    })),
    execVm: unary<vmv1.ExecVmRequest, vmv1.ExecVmResponse>(async (req, ctx) => {
      const started = Date.now();
      const cmd = req.command;
      const timeoutMs = durationMs(cmd?.timeout, ctx.deadline ? Math.max(1000, ctx.deadline - Date.now() - 500) : 300_000);
      const res = await lifecycle.exec(req.ref, cmd?.argv ?? [], {
        timeoutMs,
        ...(cmd && Object.keys(cmd.env).length > 0 ? { env: cmd.env } : {}),
        ...(cmd && cmd.stdin.length > 0 ? { input: Buffer.from(cmd.stdin) } : {}),
      });
      return {
        status: { exitCode: res.exitCode, signal: '', timedOut: false, durationMs: Date.now() - started },
        stdout: res.stdout,
        stderr: res.stderr,
        stdoutTruncated: res.truncated,
        stderrTruncated: res.truncated,
      };
    }),
    streamExecVm: serverStream<vmv1.StreamExecVmRequest, vmv1.StreamExecVmResponse>(async (req, ctx, send) => {
      const started = Date.now();
      const timeoutMs = durationMs(req.command?.timeout, ctx.deadline ? Math.max(1000, ctx.deadline - Date.now() - 500) : 3_600_000);
      const { exitCode } = await lifecycle.execStream(
        req.ref,
        req.command?.argv ?? [],
        (c) => send({ output: c.stream === 'stdout' ? { $case: 'stdout', value: c.data } : { $case: 'stderr', value: c.data } }),
        { timeoutMs, signal: ctx.signal },
      );
      await send({ output: { $case: 'exit', value: { exitCode, signal: '', timedOut: false, durationMs: Date.now() - started } } });
    }),
    getVmPorts: unary<vmv1.GetVmPortsRequest, vmv1.GetVmPortsResponse>(async (req) => {
      const { vm, ports } = await lifecycle.ports(req.ref);
      return {
        ports: ports.map((p) => ({
          protocol: p.protocol === 'tcp' ? vmv1.Protocol.PROTOCOL_TCP : vmv1.Protocol.PROTOCOL_UDP,
          address: p.address,
          port: p.port,
          process: p.process,
          pid: p.pid,
          hostAddress: `${vm.name}.vm:${p.port}`,
        })),
      };
    }),
    getVmStats: unary<vmv1.GetVmStatsRequest, vmv1.GetVmStatsResponse>(async (req) => {
      const vm = await deps.lifecycleDeps.vms.findByRef(req.ref);
      if (vm.state !== 'running' || !vm.pid) throw new FailedPreconditionError('VM_NOT_RUNNING', `vm ${vm.name} is ${vm.state}`);
      const current = await deps.stats.sample(vm.id, vm.pid);
      const guest = vm.memoryMib * 1024 * 1024;
      const toProto = (s: { at: Date; cpuPercent: number; rssBytes: number }): vmv1.VmStatsSample => ({ at: s.at, cpuPercent: s.cpuPercent, rssBytes: s.rssBytes, guestMemoryBytes: guest });
      return {
        current: current ? toProto(current) : undefined,
        history: deps.stats.historyOf(vm.id).map(toProto),
        interval: { seconds: Math.floor(deps.stats.intervalMs / 1000), nanos: 0 },
      };
    }),
    streamVmConsole: serverStream<vmv1.StreamVmConsoleRequest, vmv1.StreamVmConsoleResponse>(async (req, ctx, send) => {
      const { path } = await lifecycle.consoleLog(req.ref);
      let text = await lifecycle.readConsole(path);
      let offset = Buffer.byteLength(text);
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      if (req.tailLines > 0) await send({ lines: lines.slice(-req.tailLines) });
      while (req.follow && !ctx.signal.aborted) {
        await new Promise((r) => setTimeout(r, 500));
        text = await lifecycle.readConsole(path);
        const buf = Buffer.from(text);
        if (buf.length > offset) {
          await send({ lines: buf.subarray(offset).toString().split('\n').filter((l) => l !== '') });
          offset = buf.length;
        }
      }
    }),
  };
}
