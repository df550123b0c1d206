import type { GuestCommand } from '../domain/guest-command.js';
import { requireRunning } from '../domain/vm-state.js';
import type { GuestAgent, GuestOutputChunk } from '../ports/agent.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

export interface StreamExecCommand {
  ref: string;
  command: GuestCommand & { timeoutMs: number };
  signal: AbortSignal;
}

/** StreamExecVm: runs a command in the guest and hands its output over while it runs. */
export class StreamExecVm {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; agent: Pick<GuestAgent, 'execStream'> }) {}

  async run(cmd: StreamExecCommand, onChunk: (chunk: GuestOutputChunk) => Promise<void>): Promise<{ exitCode: number; signal: string; timedOut: boolean; durationMs: number }> {
    const vm = await findVm(this.deps.vms, cmd.ref);
    requireRunning(vm, 'running commands in it');
    const started = Date.now();
    const c = cmd.command;
    const res = await this.deps.agent.execStream(vm.files.agentSocket, c.argv, onChunk, {
      timeoutMs: c.timeoutMs,
      signal: cmd.signal,
      ...(c.env ? { env: c.env } : {}),
      ...(c.input ? { input: c.input } : {}),
      ...(c.user ? { user: c.user } : {}),
      ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    });
    return { ...res, durationMs: Date.now() - started };
  }
}
