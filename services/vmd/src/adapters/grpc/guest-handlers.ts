import { vmv1 } from '@banger/api';
import { durationToMs, msToDuration, serverStream, unary, type RequestContext } from '@banger/runtime';
import { validateGuestCommand, type GuestCommand } from '../../domain/guest-command.js';
import type { StatsSample } from '../../ports/stats.js';
import { checkedExecReply } from './exec-reply.js';
import type { HandlerDeps } from './use-cases.js';
import { forwardToProto } from './vm-convert.js';

/** Without a timeout of its own a command may run until just before the call's deadline, else this long. */
const DEFAULT_EXEC_MS = 300_000;
const DEFAULT_STREAM_EXEC_MS = 3_600_000;

function commandOf(c: vmv1.ExecCommand | undefined): GuestCommand {
  return validateGuestCommand({
    argv: c?.argv ?? [],
    env: c?.env ?? {},
    stdin: Buffer.from(c?.stdin ?? new Uint8Array()),
    user: c?.user ?? '',
    workingDir: c?.workingDir ?? '',
    timeoutMs: durationToMs(c?.timeout, 'command.timeout'),
  });
}

function limitOf(cmd: GuestCommand, ctx: RequestContext, fallback: number): number {
  return cmd.timeoutMs ?? (ctx.deadline ? Math.max(1000, ctx.deadline - Date.now() - 500) : fallback);
}

function exitStatus(r: { exitCode: number; signal: string; timedOut: boolean; durationMs: number }): vmv1.ExitStatus {
  return { exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, durationMs: r.durationMs };
}

/** The RPCs that reach into a running guest or its host process: proto → command → use case → proto. */
export function guestHandlers(deps: HandlerDeps): Pick<vmv1.VmServiceServer, 'execVm' | 'streamExecVm' | 'getVmPorts' | 'getVmStats' | 'streamVmConsole'> {
  const { useCases: uc } = deps;
  return {
    execVm: unary<vmv1.ExecVmRequest, vmv1.ExecVmResponse>(async (req, ctx) => {
      const command = commandOf(req.command);
      const res = await uc.execVm.run({ ref: req.ref, command: { ...command, timeoutMs: limitOf(command, ctx, DEFAULT_EXEC_MS) }, maxOutputBytes: req.maxOutputBytes, signal: ctx.signal });
      return checkedExecReply({ status: exitStatus(res), stdout: res.stdout, stderr: res.stderr, stdoutTruncated: res.stdoutTruncated, stderrTruncated: res.stderrTruncated });
    }),
    streamExecVm: serverStream<vmv1.StreamExecVmRequest, vmv1.StreamExecVmResponse>(async (req, ctx, send) => {
      const command = commandOf(req.command);
      const res = await uc.streamExecVm.run({ ref: req.ref, command: { ...command, timeoutMs: limitOf(command, ctx, DEFAULT_STREAM_EXEC_MS) }, signal: ctx.signal }, (c) =>
        send({ output: c.stream === 'stdout' ? { $case: 'stdout', value: c.data } : { $case: 'stderr', value: c.data } }),
      );
      await send({ output: { $case: 'exit', value: exitStatus(res) } });
    }),
    getVmPorts: unary<vmv1.GetVmPortsRequest, vmv1.GetVmPortsResponse>(async (req) => {
      const { vm, ports, forwards } = await uc.getVmPorts.run({ ref: req.ref });
      return {
        ports: ports.map((p) => ({
          protocol: p.protocol === 'tcp' ? vmv1.Protocol.PROTOCOL_TCP : vmv1.Protocol.PROTOCOL_UDP,
          address: p.address,
          port: p.port,
          process: p.process,
          pid: p.pid,
          hostAddress: `${vm.name}.vm:${p.port}`,
        })),
        forwards: forwards.map(forwardToProto),
      };
    }),
    getVmStats: unary<vmv1.GetVmStatsRequest, vmv1.GetVmStatsResponse>(async (req) => {
      const r = await uc.getVmStats.run({ ref: req.ref });
      const sample = (s: StatsSample): vmv1.VmStatsSample => ({ at: s.at, cpuPercent: s.cpuPercent, rssBytes: s.rssBytes, guestMemoryBytes: r.guestMemoryBytes });
      return { current: r.current ? sample(r.current) : undefined, history: r.history.map(sample), interval: msToDuration(r.intervalMs) };
    }),
    streamVmConsole: serverStream<vmv1.StreamVmConsoleRequest, vmv1.StreamVmConsoleResponse>(async (req, ctx, send) => {
      await uc.streamVmConsole.run({ ref: req.ref, tailLines: req.tailLines, follow: req.follow, signal: ctx.signal }, (lines) => send({ lines }));
    }),
  };
}
