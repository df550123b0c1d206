import type { OperationHandle } from '../ports/operation.js';
import type { StartVm } from './start.js';
import type { StopVm } from './stop.js';

export interface RestartVmCommand {
  ref: string;
  stopTimeoutMs: number;
  noWait: boolean;
}

/** RestartVm: StopVm, then StartVm's stages, as one operation. */
export class RestartVm {
  constructor(private readonly deps: { stop: StopVm; start: StartVm }) {}

  async run(cmd: RestartVmCommand, op: OperationHandle): Promise<{ targetId: string; vmId: string }> {
    await this.deps.stop.run({ ref: cmd.ref, timeoutMs: cmd.stopTimeoutMs });
    return this.deps.start.run({ ref: cmd.ref, noWait: cmd.noWait }, op);
  }
}
