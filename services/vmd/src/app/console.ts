import { setTimeout as sleep } from 'node:timers/promises';
import { FailedPreconditionError } from '@banger/runtime/errors';
import { ConsoleLineSplitter } from '../domain/console-lines.js';
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
/** The most of the log's end read for the first lines, whatever tail_lines asks. */
export const CONSOLE_TAIL_BYTES = 1 << 20;
/** One read while following; a guest writing faster is read again at once, not buffered. */
const FOLLOW_READ_BYTES = 256 * 1024;

/** The last `lines` lines of at most CONSOLE_TAIL_BYTES of a console log's end. */
export async function consoleTailLines(logs: ConsoleLogs, path: string, lines: number): Promise<string[]> {
  const { data, cut } = await (await logs.open(path)).tail(CONSOLE_TAIL_BYTES);
  return tailOf(new ConsoleLineSplitter(), data, cut, lines);
}

function tailOf(split: ConsoleLineSplitter, data: Buffer, cut: boolean, lines: number): string[] {
  const all = [...split.push(data), ...split.flush()];
  if (cut) all.shift();
  return all.slice(-lines);
}

/**
 * StreamVmConsole: the last lines of the guest console, then (with follow) new ones as they
 * come. The log is read by offset in bounded pieces, across the jailer's rotation, so a guest
 * flooding its console costs vmd a read buffer, not the log.
 */
export class StreamVmConsole {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; consoleLogs: ConsoleLogs }) {}

  async run(cmd: StreamConsoleCommand, send: (lines: string[]) => Promise<void>): Promise<void> {
    const vm = await findVm(this.deps.vms, cmd.ref);
    const path = vm.files.consoleLog;
    if (!path) throw new FailedPreconditionError('NO_CONSOLE', `vm ${vm.name} has not booted yet`);
    const cursor = await this.deps.consoleLogs.open(path);
    if (cmd.tailLines > 0) {
      const { data, cut } = await cursor.tail(CONSOLE_TAIL_BYTES);
      const lines = tailOf(new ConsoleLineSplitter(), data, cut, cmd.tailLines);
      if (lines.length > 0) await send(lines);
    }
    const split = new ConsoleLineSplitter();
    while (cmd.follow && !cmd.signal.aborted) {
      const data = await cursor.next(FOLLOW_READ_BYTES);
      const lines = data.length > 0 ? split.push(data) : split.flush();
      const shown = lines.filter((l) => l !== '');
      if (shown.length > 0) await send(shown);
      if (data.length < FOLLOW_READ_BYTES) await sleep(FOLLOW_POLL_MS);
    }
  }
}
