import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError, ResourceExhaustedError } from '@banger/runtime';
import { killGuestTree, signalName, wrapCommand, type ExecResult } from './qga-exec.js';
import type { ExecOptions, QgaSession } from './qga.js';
import { BASE64, execPid, execState, protocolError, type ExecState } from './qga-values.js';

/** The most a captured exec keeps per stream: both streams' base64 fit in one agent answer. */
export const MAX_CAPTURED_OUTPUT_BYTES = 256 * 1024;

/** One stream of a captured answer, checked: canonical base64 of at most `max` bytes. */
function captured(v: unknown, stream: string, max: number, cut: unknown): Buffer {
  if (v === undefined) return Buffer.alloc(0);
  if (typeof v !== 'string' || !BASE64.test(v)) throw protocolError('guest-exec-status', `${stream} is not base64`);
  const data = Buffer.from(v, 'base64');
  if (data.length > max || cut === true) {
    throw new ResourceExhaustedError('AGENT_OUTPUT_TOO_LARGE', `guest command wrote more than ${max} bytes to ${stream}`, { fields: { stream, limit: max } });
  }
  return data;
}

/** Waits (briefly) for a process the agent started to be gone, after it was killed. */
async function reap(session: QgaSession, pid: number): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 50; i++) {
    const st = (await session.execute<Record<string, unknown>>('guest-exec-status', { pid }, 10_000).catch(() => undefined)) ?? undefined;
    if (!st || st['exited'] === true) return st;
    await sleep(100);
  }
  return undefined;
}

/**
 * Runs one of vmd's own short commands (probes, the ssh key drop) with qemu-ga's captured
 * output: a single guest process and no files, which matters while the guest is still busy
 * booting. Its output must be small: past opts.maxOutputBytes (at most
 * MAX_CAPTURED_OUTPUT_BYTES; an answer past the session's line cap is refused too) the call
 * fails AGENT_OUTPUT_TOO_LARGE instead of truncating. User commands go through qgaExec.
 */
export async function qgaExecCaptured(session: QgaSession, argvIn: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const max = Math.min(opts.maxOutputBytes || MAX_CAPTURED_OUTPUT_BYTES, MAX_CAPTURED_OUTPUT_BYTES);
  const [path = '', ...args] = wrapCommand(argvIn, opts);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const pid = execPid(
    await session.execute(
      'guest-exec',
      {
        path,
        arg: args,
        'capture-output': true,
        ...(opts.env ? { env: Object.entries(opts.env).map(([k, v]) => `${k}=${v}`) } : {}),
        ...(opts.input ? { 'input-data': opts.input.toString('base64') } : {}),
      },
      10_000,
    ),
  );
  const result = (raw: Record<string, unknown> | undefined, st: ExecState | undefined, timedOut: boolean): ExecResult => ({
    exitCode: st?.exitCode ?? -1,
    signal: st ? signalName(st.signal) : signalName(constants.signals.SIGKILL),
    timedOut,
    stdout: captured(raw?.['out-data'], 'stdout', max, raw?.['out-truncated']),
    stderr: captured(raw?.['err-data'], 'stderr', max, raw?.['err-truncated']),
    stdoutTruncated: false,
    stderrTruncated: false,
  });
  let delay = 20;
  for (;;) {
    const raw = await session.execute<Record<string, unknown>>('guest-exec-status', { pid }, 10_000);
    const st = execState(raw);
    if (st.exited) return result(raw, st, false);
    if (opts.signal?.aborted) {
      await killGuestTree(session, pid);
      throw new DeadlineExceededError('EXEC_CANCELLED', 'command cancelled while running in the guest');
    }
    if (Date.now() > deadline) {
      await killGuestTree(session, pid);
      const after = await reap(session, pid);
      return result(after, after ? execState(after) : undefined, true);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
}
