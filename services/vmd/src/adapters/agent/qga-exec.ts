import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError } from '@banger/runtime';
import { validateOutputLimit } from '../../domain/guest-command.js';
import type { GuestOutputChunk } from '../../ports/agent.js';
import { readChunk, type ExecOptions, type QgaSession } from './qga.js';
import { execPid, execState, fileHandle, READ_CHUNK_BYTES, type ExecState } from './qga-values.js';

/**
 * How long output is still read once a command exited or was killed. A guest whose files keep
 * growing (or whose agent never reports the exit) cannot keep a call alive past this.
 */
export const DRAIN_GRACE_MS = 5000;
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
export async function killGuestTree(session: QgaSession, pid: number): Promise<void> {
  const script = 'k() { kill -STOP "$1" 2>/dev/null; for c in $(pgrep -P "$1"); do k "$c"; done; kill -KILL "$1" 2>/dev/null; }; k "$1"';
  await session.execute('guest-exec', { path: '/bin/sh', arg: ['-c', script, 'banger-kill', String(pid)], 'capture-output': false }, 10_000).catch(() => undefined);
}

type StreamName = 'stdout' | 'stderr';

interface OutputFile {
  readonly stream: StreamName;
  readonly path: string;
  handle: number | undefined;
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
 * stream is reported truncated. Past its timeout the command is killed; output is read for at
 * most DRAIN_GRACE_MS after it ended or was killed, and an agent that never reports the exit
 * ends the call then too.
 */
export async function qgaRun(
  session: QgaSession,
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

  /** Reads one file until it is caught up, past its limit, READS_PER_PASS reads, or `until`. */
  const drain = async (f: OutputFile, until: number): Promise<number> => {
    if (f.truncated) return 0;
    if (f.handle === undefined) {
      const h = await session.execute('guest-file-open', { path: f.path, mode: 'r' }, 10_000).catch(() => undefined);
      // The shell creates both files before the command starts; none means nothing was written.
      f.caughtUp = h === undefined;
      if (h === undefined) return 0;
      f.handle = fileHandle(h);
    }
    let got = 0;
    f.caughtUp = false;
    for (let i = 0; i < READS_PER_PASS && Date.now() < until; i++) {
      // One byte past the limit is asked for, to tell "exactly at the limit" from "more".
      const want = maxBytes === undefined ? READ_CHUNK_BYTES : Math.min(READ_CHUNK_BYTES, maxBytes - f.kept + 1);
      const { data, eof } = await readChunk(session, f.handle, want, Math.min(10_000, Math.max(1000, until - Date.now())));
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
        // Output written just before the exit: read it, for a bounded time.
        const until = Math.min(passUntil, Date.now() + grace);
        const done = (f: OutputFile): boolean => f.caughtUp || f.truncated;
        do await drainBoth(until);
        while (!(done(out) && done(err)) && Date.now() < until);
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
      delay = got > 0 ? 50 : Math.min(delay * 2, 400);
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
export function qgaExecStream(session: QgaSession, argv: readonly string[], onChunk: (chunk: GuestOutputChunk) => Promise<void>, opts: ExecOptions & { timeoutMs: number }): Promise<StreamExit> {
  return qgaRun(session, argv, onChunk, opts, undefined);
}
