import { setTimeout as sleep } from 'node:timers/promises';
import { FailedPreconditionError } from '@banger/runtime/errors';
import type { ConsoleLogs } from '../ports/console.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

export interface StreamConsoleCommand {
  ref: string;
  /** Trailing lines to send first; 0 sends none. */
  tailLines: number;
  follow: boolean;
  signal: AbortSignal;
}

const FOLLOW_POLL_MS = 500;

/** StreamVmConsole: the last lines of the guest console, then (with follow) new ones as they come. */
export class StreamVmConsole {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; consoleLogs: ConsoleLogs }) {}

  async run(cmd: StreamConsoleCommand, send: (lines: string[]) => Promise<void>): Promise<void> {
    const vm = await findVm(this.deps.vms, cmd.ref);
    const path = vm.files.consoleLog;
    if (!path) throw new FailedPreconditionError('NO_CONSOLE', `vm ${vm.name} has not booted yet`);
    const text = await this.deps.consoleLogs.read(path);
    let offset = Buffer.byteLength(text);
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (cmd.tailLines > 0) await send(lines.slice(-cmd.tailLines));
    while (cmd.follow && !cmd.signal.aborted) {
      await sleep(FOLLOW_POLL_MS);
      const buf = Buffer.from(await this.deps.consoleLogs.read(path));
      if (buf.length > offset) {
        await send(buf.subarray(offset).toString().split('\n').filter((l) => l !== ''));
        offset = buf.length;
      }
    }
  }
}
