import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError } from '@banger/runtime';
import { validateOutputLimit } from '../../domain/guest-command.js';
import type { GuestOutputChunk } from '../../ports/agent.js';
import { readChunk, type AgentChannel, type ExecOptions, type QgaSession } from './qga.js';
import { execPid, execState, fileHandle, READ_CHUNK_BYTES, seekPosition, type ExecState } from './qga-values.js';

/**
 * How long a killed command's exit is waited for (an agent that never reports it cannot keep a
 * call alive past this), and the fixed part of the time allowed to read output after an exit.
 */
export const DRAIN_GRACE_MS = 5000;
/**
 * The slowest output read after an exit is allowed to be, so the time allowed grows with what
 * is left to read: under TCG a busy guest answers a 64 KiB guest-file-read in well under 1 s.
 */
export const DRAIN_MIN_BYTES_PER_SEC = 64 * 1024;
/** The longest pause between two status polls of a command that prints nothing. */
export const DEFAULT_MAX_POLL_MS = 400;
/** Reads per stream between two status polls, so a fast writer cannot starve the poll. */
const READS_PER_PASS = 16;

/** How a guest command ended. */
export interface StreamExit {
  exitCode: number;
  /** Signal name when the command was killed by one, else ''. */
  signal: string;
  /** True when the command ran past its timeout and was killed. */
  timedOut: boolean;
  /** Per stream: output was dropped (past the byte limit, or still coming when the drain ended). */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

/** What a guest command produced, whole (up to its byte limit). */
export type ExecResult = StreamExit & { stdout: Buffer; stderr: Buffer };

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** A guest signal number by name (guests are Linux on the host's architecture). */
export function signalName(n: number | undefined): string {
  return n === undefined || n === 0 ? '' : (SIGNAL_NAMES.get(n) ?? `SIG${n}`);
}

/**
 * The argv that runs `argv` as `user` in `workingDir` (both optional; a user without a
 * directory starts in the user's home). Everything travels as positional parameters of a
 * fixed script, never as shell text.
 */
export function wrapCommand(argv: readonly string[], opts: { user?: string | undefined; workingDir?: string | undefined }): string[] {
  const user = opts.user ?? '';
  const dir = opts.workingDir ?? '';
  if (!user && !dir) return [...argv];
  const script = [
    'd=$1; u=$2; shift 2',
    'if [ -n "$u" ]; then exec runuser -u "$u" -- /bin/sh -c \'cd -- "${1:-$HOME}" || exit 126; shift; exec "$@"\' banger-exec "$d" "$@"; fi',
    'cd -- "$d" || exit 126; exec "$@"',
  ].join('\n');
  return ['/bin/sh', '-c', script, 'banger-exec', dir, user, ...argv];
}

/** Kills a guest process and everything it started (stopped first, so it cannot fork meanwhile). */
export async function killGuestTree(session: AgentChannel, pid: number): Promise<void> {
  const script = 'k() { kill -STOP "$1" 2>/dev/null; for c in $(pgrep -P "$1"); do k "$c"; done; kill -KILL "$1" 2>/dev/null; }; k "$1"';
  await session.execute('guest-exec', { path: '/bin/sh', arg: ['-c', script, 'banger-kill', String(pid)], 'capture-output': false }, 10_000).catch(() => undefined);
}

type StreamName = 'stdout' | 'stderr';

interface OutputFile {
  readonly stream: StreamName;
  readonly path: string;
  handle: number | undefined;
  /** Bytes read from the file (its handle's position). */
  pos: number;
  kept: number;
  /** Read to its current end at the last pass. */
  caughtUp: boolean;
  truncated: boolean;
}

/**
 * Runs a guest command whose stdout and stderr go to two files in the guest, read back in
 * READ_CHUNK_BYTES pieces (guest-file-read): no agent answer is ever larger than one chunk,
 * whatever the command prints. Each stream keeps at most `maxBytes` (undefined: no limit, for
 * streaming to a client that consumes as it goes); past it the file is no longer read and the
 * stream is reported truncated. Past its timeout the command is killed, and an agent that does
 * not report the kill's exit within DRAIN_GRACE_MS ends the call then. After the exit, all the
 * output the command wrote is read (see finish), or the call fails EXEC_OUTPUT_INCOMPLETE.
 */
export async function qgaRun(
  session: AgentChannel,
  argv: readonly string[],
  onChunk: (chunk: GuestOutputChunk) => Promise<void>,
  opts: ExecOptions & { timeoutMs: number },
  maxBytes: number | undefined,
): Promise<StreamExit> {
  const tag = randomBytes(6).toString('hex');
  const files: OutputFile[] = (['stdout', 'stderr'] as const).map((stream) => ({
    stream,
    path: `/tmp/.banger-exec-${tag}.${stream === 'stdout' ? 'out' : 'err'}`,
    handle: undefined,
    pos: 0,
    kept: 0,
    caughtUp: false,
    truncated: false,
  }));
  const [out, err] = files as [OutputFile, OutputFile];
  const deadline = Date.now() + opts.timeoutMs;
  const grace = opts.drainGraceMs ?? DRAIN_GRACE_MS;
  const pid = execPid(
    await session.execute(
      'guest-exec',
      {
        path: '/bin/sh',
        arg: ['-c', `exec "$@" >${out.path} 2>${err.path}`, 'banger-exec', ...wrapCommand(argv, opts)],
        'capture-output': false,
        ...(opts.env ? { env: Object.entries(opts.env).map(([k, v]) => `${k}=${v}`) } : {}),
        ...(opts.input ? { 'input-data': opts.input.toString('base64') } : {}),
      },
      10_000,
    ),
  );

  /** Opens a file's handle once; false when there is no file (nothing was written). */
  const opened = async (f: OutputFile): Promise<boolean> => {
    if (f.handle !== undefined) return true;
    const h = await session.execute('guest-file-open', { path: f.path, mode: 'r' }, 10_000).catch(() => undefined);
    // The shell creates both files before the command starts; none means nothing was written.
    if (h === undefined) {
      f.caughtUp = true;
      return false;
    }
    f.handle = fileHandle(h);
    return true;
  };
  /**
   * Reads one file until it is caught up, past its limit, READS_PER_PASS reads, `until`, or
   * (when given) position `end`.
   */
  const drain = async (f: OutputFile, until: number, end = Infinity): Promise<number> => {
    if (f.truncated || !(await opened(f)) || f.handle === undefined) return 0;
    let got = 0;
    f.caughtUp = false;
    for (let i = 0; i < READS_PER_PASS && Date.now() < until && f.pos < end; i++) {
      // One byte past the limit is asked for, to tell "exactly at the limit" from "more".
      const want = Math.min(READ_CHUNK_BYTES, end - f.pos, maxBytes === undefined ? Infinity : maxBytes - f.kept + 1);
      const { data, eof } = await readChunk(session, f.handle, want, Math.min(10_000, Math.max(1000, until - Date.now())));
      f.pos += data.length;
      if (data.length === 0) {
        f.caughtUp = true;
        return got;
      }
      // A short read at end of file: caught up without one more round trip.
      const shortAtEnd = eof && data.length < want;
      const keep = maxBytes === undefined ? data : data.subarray(0, maxBytes - f.kept);
      if (keep.length > 0) await onChunk({ stream: f.stream, data: keep });
      f.kept += keep.length;
      got += keep.length;
      if (keep.length < data.length) {
        f.truncated = true;
        return got;
      }
      if (shortAtEnd) {
        f.caughtUp = true;
        return got;
      }
    }
    return got;
  };
  const drainBoth = async (until: number): Promise<number> => (await drain(out, until)) + (await drain(err, until));
  /**
   * After the exit: the file's size is learned (seek to the end and back) and the file is read
   * up to it (or one byte past the limit), in a time that grows with what is left. Output
   * written by the command is never cut short silently: a guest too slow to hand it over, or a
   * file that shrank, fails EXEC_OUTPUT_INCOMPLETE. Bytes a leftover background process
   * appends after the exit are not waited for.
   */
  const finish = async (f: OutputFile): Promise<void> => {
    if (f.truncated || !(await opened(f)) || f.handle === undefined) return;
    const handle = f.handle;
    const size = seekPosition(await session.execute('guest-file-seek', { handle, offset: 0, whence: 'end' }, 10_000));
    await session.execute('guest-file-seek', { handle, offset: f.pos, whence: 'set' }, 10_000);
    const end = maxBytes === undefined ? size : Math.min(size, maxBytes - f.kept + f.pos + 1);
    const allowedMs = grace + Math.ceil(((end - f.pos) / DRAIN_MIN_BYTES_PER_SEC) * 1000);
    const until = Date.now() + allowedMs;
    const incomplete = (why: string, cause?: unknown): DeadlineExceededError =>
      new DeadlineExceededError('EXEC_OUTPUT_INCOMPLETE', `guest command's ${f.stream}: ${f.pos} of its ${size} bytes read (${why}); the output is not complete`, {
        fields: { stream: f.stream, read: f.pos, size },
        ...(cause ? { cause } : {}),
      });
    const slow = `not read within ${Math.round(allowedMs / 1000)} s`;
    while (f.pos < end && !f.truncated) {
      const got = await drain(f, until, end).catch((e: unknown) => {
        throw e instanceof DeadlineExceededError && e.reason === 'AGENT_TIMEOUT' ? incomplete(slow, e) : e;
      });
      if (f.pos >= end || f.truncated) break;
      if (got === 0) throw incomplete('the file ended early');
      if (Date.now() >= until) throw incomplete(slow);
    }
    f.caughtUp = true;
  };
  const ended = (st: ExecState | undefined, timedOut: boolean): StreamExit => ({
    exitCode: st?.exitCode ?? -1,
    signal: st ? signalName(st.signal) : 'SIGKILL',
    timedOut,
    stdoutTruncated: out.truncated || !out.caughtUp,
    stderrTruncated: err.truncated || !err.caughtUp,
  });

  try {
    let delay = 50;
    let killedAt: number | undefined;
    for (;;) {
      const st = execState(await session.execute('guest-exec-status', { pid }, 10_000));
      const passUntil = killedAt === undefined ? Math.max(deadline, Date.now() + 1000) : killedAt + grace;
      if (st.exited) {
        await finish(out);
        await finish(err);
        return ended(st, killedAt !== undefined);
      }
      const got = await drainBoth(passUntil);
      if (opts.signal?.aborted) {
        await killGuestTree(session, pid);
        throw new DeadlineExceededError('EXEC_CANCELLED', 'command cancelled while running in the guest');
      }
      if (killedAt === undefined && Date.now() > deadline) {
        killedAt = Date.now();
        await killGuestTree(session, pid);
      }
      // The agent never said the killed command exited: give up on it rather than wait forever.
      if (killedAt !== undefined && Date.now() > killedAt + grace) return ended(undefined, true);
      delay = got > 0 ? 50 : Math.min(delay * 2, opts.maxPollMs ?? DEFAULT_MAX_POLL_MS);
      await sleep(killedAt !== undefined ? 100 : delay);
    }
  } finally {
    for (const f of files) if (f.handle !== undefined) await session.execute('guest-file-close', { handle: f.handle }, 5000).catch(() => undefined);
    await session.execute('guest-exec', { path: '/bin/rm', arg: ['-f', out.path, err.path], 'capture-output': false }, 5000).catch(() => undefined);
  }
}

/**
 * Runs a guest command and answers its whole output, each stream kept up to its limit
 * (validateOutputLimit) and reported truncated past it. A cancelled call kills the command and fails
 * EXEC_CANCELLED.
 */
export async function qgaExec(session: QgaSession, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const limit = validateOutputLimit(opts.maxOutputBytes);
  const chunks: Record<StreamName, Buffer[]> = { stdout: [], stderr: [] };
  const res = await qgaRun(session, argv, async (c) => void chunks[c.stream].push(c.data), { ...opts, timeoutMs: opts.timeoutMs ?? 60_000 }, limit);
  return { ...res, stdout: Buffer.concat(chunks.stdout), stderr: Buffer.concat(chunks.stderr) };
}

/** Streams a guest command's output while it runs (see qgaRun); the client's pace bounds memory. */
export function qgaExecStream(session: AgentChannel, argv: readonly string[], onChunk: (chunk: GuestOutputChunk) => Promise<void>, opts: ExecOptions & { timeoutMs: number }): Promise<StreamExit> {
  return qgaRun(session, argv, onChunk, opts, undefined);
}
