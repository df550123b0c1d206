import { validateOutputLimit, type GuestCommand } from '../domain/guest-command.js';
import { requireRunning } from '../domain/vm-state.js';
import type { GuestAgent, GuestExecResult } from '../ports/agent.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

/** How a guest command ended, with the time it took. */
export type ExecOutcome = GuestExecResult & { durationMs: number };

/** ExecVm: runs a command in the guest through the agent and answers with its whole (capped) output. */
export class ExecVm {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; agent: Pick<GuestAgent, 'exec'> }) {}

  async run(cmd: { ref: string; command: GuestCommand; maxOutputBytes?: number; signal?: AbortSignal }): Promise<ExecOutcome> {
    const maxOutputBytes = validateOutputLimit(cmd.maxOutputBytes);
    const vm = await findVm(this.deps.vms, cmd.ref);
    requireRunning(vm, 'running commands in it');
    const started = Date.now();
    const c = cmd.command;
    const res = await this.deps.agent.exec(vm.files.agentSocket, c.argv, {
      ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}),
      ...(c.env ? { env: c.env } : {}),
      ...(c.input ? { input: c.input } : {}),
      ...(c.user ? { user: c.user } : {}),
      ...(c.workingDir ? { workingDir: c.workingDir } : {}),
      ...(cmd.signal ? { signal: cmd.signal } : {}),
      maxOutputBytes,
    });
    return { ...res, durationMs: Date.now() - started };
  }
}
