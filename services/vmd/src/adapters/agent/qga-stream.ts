import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError } from '@banger/runtime';
import type { GuestOutputChunk } from '../../ports/agent.js';
import { killGuestTree, signalName, wrapCommand, type ExecOptions, type FileRead, type QgaSession } from './qga.js';

/** How a streamed command ended. */
export interface StreamExit {
  exitCode: number;
  signal: string;
  timedOut: boolean;
}

/**
 * Streams a guest command's output while it runs. qemu-guest-agent only returns captured
 * output when a command ends, so the command writes to two files in the guest which are read
 * incrementally (guest-file-read) until it has exited and both are drained. The user's argv
 * reaches the guest shell as positional parameters ("$@"), never as text to parse. Past its
 * timeout the command is killed and reported timed out, with what it wrote so far.
 */
export async function qgaExecStream(
  session: QgaSession,
  argv: readonly string[],
  onChunk: (chunk: GuestOutputChunk) => Promise<void>,
  opts: ExecOptions & { timeoutMs: number },
): Promise<StreamExit> {
  const tag = randomBytes(6).toString('hex');
  const out = `/tmp/.banger-exec-${tag}.out`;
  const err = `/tmp/.banger-exec-${tag}.err`;
  const deadline = Date.now() + opts.timeoutMs;
  const { pid } = await session.execute<{ pid: number }>(
    'guest-exec',
    {
      path: '/bin/sh',
      arg: ['-c', `exec "$@" >${out} 2>${err}`, 'banger-exec', ...wrapCommand(argv, opts)],
      'capture-output': false,
      ...(opts.env ? { env: Object.entries(opts.env).map(([k, v]) => `${k}=${v}`) } : {}),
      ...(opts.input ? { 'input-data': opts.input.toString('base64') } : {}),
    },
    10_000,
  );
  const handles: Partial<Record<'stdout' | 'stderr', number>> = {};
  const open = async (stream: 'stdout' | 'stderr', path: string): Promise<number | undefined> => {
    if (handles[stream] !== undefined) return handles[stream];
    const h = await session.execute<number>('guest-file-open', { path, mode: 'r' }, 10_000).catch(() => undefined);
    if (h !== undefined) handles[stream] = h;
    return h;
  };
  const drain = async (stream: 'stdout' | 'stderr', path: string): Promise<number> => {
    const h = await open(stream, path);
    if (h === undefined) return 0;
    let total = 0;
    for (;;) {
      const r = await session.execute<FileRead>('guest-file-read', { handle: h, count: 65536 }, 10_000);
      if (r.count === 0) return total;
      total += r.count;
      await onChunk({ stream, data: Buffer.from(r['buf-b64'], 'base64') });
    }
  };
  const drainBoth = async (): Promise<number> => (await drain('stdout', out)) + (await drain('stderr', err));
  try {
    let delay = 50;
    let timedOut = false;
    for (;;) {
      const st = await session.execute<{ exited: boolean; exitcode?: number; signal?: number }>('guest-exec-status', { pid }, 10_000);
      const got = await drainBoth();
      if (st.exited) {
        // One last pass: output written just before exit.
        await drainBoth();
        return { exitCode: st.exitcode ?? -1, signal: signalName(st.signal), timedOut };
      }
      if (opts.signal?.aborted) {
        await killGuestTree(session, pid);
        throw new DeadlineExceededError('EXEC_CANCELLED', 'command cancelled while running in the guest');
      }
      if (!timedOut && Date.now() > deadline) {
        timedOut = true;
        await killGuestTree(session, pid);
      }
      delay = got > 0 ? 50 : Math.min(delay * 2, 400);
      await sleep(timedOut ? 100 : delay);
    }
  } finally {
    for (const h of Object.values(handles)) await session.execute('guest-file-close', { handle: h }, 5000).catch(() => undefined);
    await session.execute('guest-exec', { path: '/bin/rm', arg: ['-f', out, err], 'capture-output': false }, 5000).catch(() => undefined);
  }
}
