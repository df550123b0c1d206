import { spawn, type ChildProcess } from 'node:child_process';
import { CappedBuffer, TailBuffer } from './capture.js';
import { outputTooLarge, spawnError, toolCancelled, toolFailed, toolTimeout } from './errors.js';
import { signalChild, terminate } from './group.js';
import { prepareLaunch, type LaunchOptions } from './launch.js';

export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_KILL_GRACE_MS = 5_000;
export const DEFAULT_MAX_STDOUT = 16 * 1024 * 1024;
export const DEFAULT_MAX_STDERR = 64 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RunOptions extends LaunchOptions {
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  readonly input?: Buffer | string | undefined;
  /**
   * Wall-clock limit (default 120 s); `Infinity` for none. On expiry the process group gets
   * SIGTERM, then SIGKILL after `killGraceMs`, and the call fails with TOOL_TIMEOUT.
   */
  readonly timeoutMs?: number | undefined;
  /** Between SIGTERM and SIGKILL on timeout, abort or oversized output (default 5 s). */
  readonly killGraceMs?: number | undefined;
  /** Aborting stops the process group like a timeout and fails the call with CANCELLED. */
  readonly signal?: AbortSignal | undefined;
  /** The reason a cancellation carries instead of CANCELLED, e.g. BUILD_CANCELLED. */
  readonly cancelReason?: string | undefined;
  /** Exit codes that count as success (default [0]); `code` in the result says which one. */
  readonly okCodes?: readonly number[] | undefined;
  /** Keep stdout (default true); with false it goes to /dev/null (debootstrap's progress). */
  readonly captureStdout?: boolean | undefined;
  /** Past this many stdout bytes (default 16 MiB) the tool is stopped and the call fails with TOOL_OUTPUT_TOO_LARGE, never a silently cut result. */
  readonly maxStdout?: number | undefined;
  /** Only the last this-many stderr bytes are kept (default 64 KiB). */
  readonly maxStderr?: number | undefined;
  /** stdout as a UTF-8 string (default) or the raw bytes. */
  readonly encoding?: 'utf8' | 'buffer' | undefined;
}

export interface RunResult<T extends string | Buffer = string> {
  readonly stdout: T;
  /** The kept tail of stderr. */
  readonly stderr: string;
  readonly code: number;
}

function checkLimit(name: string, v: number, allowInfinity: boolean): number {
  if (allowInfinity && v === Infinity) return v;
  if (!Number.isSafeInteger(v) || v <= 0 || v > MAX_TIMER_MS) throw new TypeError(`${name} must be a positive integer (ms or bytes)`);
  return v;
}

type Stop = 'timeout' | 'abort' | 'overflow';

/**
 * Runs a program with an argument vector (never a shell) in a pinned environment, in its own
 * process group, and waits for it. Every failure is a ProcError: a missing program is
 * TOOL_MISSING, an exit outside `okCodes` TOOL_FAILED with the end of stderr in the message.
 */
export function run(file: string, args: readonly string[], opts: RunOptions & { readonly encoding: 'buffer' }): Promise<RunResult<Buffer>>;
export function run(file: string, args: readonly string[], opts?: RunOptions & { readonly encoding?: 'utf8' | undefined }): Promise<RunResult<string>>;
export function run(file: string, args: readonly string[], opts?: RunOptions): Promise<RunResult<string | Buffer>>;
export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult<string | Buffer>> {
  const timeoutMs = checkLimit('timeoutMs', opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, true);
  const graceMs = checkLimit('killGraceMs', opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS, false);
  const maxStdout = checkLimit('maxStdout', opts.maxStdout ?? DEFAULT_MAX_STDOUT, false);
  const maxStderr = checkLimit('maxStderr', opts.maxStderr ?? DEFAULT_MAX_STDERR, false);
  const okCodes = opts.okCodes ?? [0];
  const capture = opts.captureStdout ?? true;
  if (opts.signal?.aborted) throw toolCancelled(file, opts.cancelReason);
  const launch = await prepareLaunch(file, args, opts, [opts.input === undefined ? 'ignore' : 'pipe', capture ? 'pipe' : 'ignore', 'pipe']);
  if (opts.signal?.aborted) throw toolCancelled(file, opts.cancelReason);

  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(launch.file, launch.args, launch.options);
    } catch (err) {
      reject(spawnError(file, err));
      return;
    }
    const out = new CappedBuffer(maxStdout);
    const err = new TailBuffer(maxStderr);
    let stopped: Stop | undefined;
    const alive = (): boolean => child.exitCode === null && child.signalCode === null;
    const stop = (why: Stop): void => {
      if (stopped !== undefined || child.pid === undefined) return;
      stopped = why;
      terminate(child.pid, launch.group, graceMs, alive);
    };
    const timer = timeoutMs === Infinity ? undefined : setTimeout(() => stop('timeout'), timeoutMs);
    const onAbort = (): void => stop('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };

    child.stdout?.on('data', (d: Buffer) => {
      if (!out.push(d)) stop('overflow');
    });
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    if (opts.input !== undefined && child.stdin) {
      // A tool that exits without reading its input closes the pipe: EPIPE is not our failure.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.once('error', (e) => {
      done();
      if (child.pid !== undefined && alive()) signalChild(child.pid, launch.group, 'SIGKILL');
      reject(spawnError(file, e));
    });
    child.once('close', (code: number | null, sig: NodeJS.Signals | null) => {
      done();
      const stderr = err.toString();
      if (stopped === 'abort') return reject(toolCancelled(file, opts.cancelReason));
      if (stopped === 'timeout') return reject(toolTimeout(file, timeoutMs, stderr));
      if (stopped === 'overflow') return reject(outputTooLarge(file, maxStdout, stderr));
      const execErr = launch.execFailure(code, stderr);
      if (execErr !== undefined) return reject(execErr);
      if (code === null || !okCodes.includes(code)) return reject(toolFailed(file, code, sig, stderr));
      const bytes = out.value();
      resolve({ stdout: opts.encoding === 'buffer' ? bytes : bytes.toString('utf8'), stderr, code });
    });
  });
}
