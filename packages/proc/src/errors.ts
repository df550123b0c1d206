import { BangerError } from '@banger/runtime/errors';

/**
 * What can go wrong with a child process, and the one gRPC code each failure maps to. Every
 * runner in banger goes through this table, so a missing `qemu-img` and a missing `nft` reach
 * the client the same way.
 */
const CODES = {
  TOOL_MISSING: 'FAILED_PRECONDITION',
  TOOL_NOT_EXECUTABLE: 'FAILED_PRECONDITION',
  TOOL_FAILED: 'INTERNAL',
  TOOL_TIMEOUT: 'DEADLINE_EXCEEDED',
  TOOL_OUTPUT_TOO_LARGE: 'INTERNAL',
  SPAWN_FAILED: 'INTERNAL',
  CANCELLED: 'CANCELLED',
} as const;

export type ProcFailure = keyof typeof CODES;
export type ProcErrorCode = (typeof CODES)[ProcFailure];

/** Lines and characters of stderr a TOOL_FAILED message carries; the full tail stays on `stderr`. */
const MESSAGE_TAIL_LINES = 8;
const MESSAGE_TAIL_CHARS = 1_000;

interface ProcErrorInit {
  readonly tool: string;
  readonly exitCode?: number | null;
  readonly signal?: NodeJS.Signals | null;
  readonly stderr?: string;
  /** Replaces the reason; only cancellation takes one (e.g. BUILD_CANCELLED). */
  readonly reason?: string;
  readonly fields?: Record<string, string | number | undefined>;
  readonly cause?: unknown;
}

/**
 * A host tool could not be run or did not succeed. `failure` says what happened whatever
 * reason the caller asked for; `stderr` is the bounded tail, kept for callers that classify a
 * tool's output (network tools) and never put into `fields`, which travel to the client.
 * Neither the environment nor the argument vector is recorded: either may hold secrets.
 */
export class ProcError extends BangerError {
  declare readonly code: ProcErrorCode;
  readonly failure: ProcFailure;
  readonly tool: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;

  constructor(failure: ProcFailure, message: string, init: ProcErrorInit) {
    super(CODES[failure], init.reason ?? failure, message, {
      fields: { tool: init.tool, exit_code: init.exitCode ?? undefined, signal: init.signal ?? undefined, ...init.fields },
      cause: init.cause,
    });
    this.failure = failure;
    this.tool = init.tool;
    this.exitCode = init.exitCode ?? null;
    this.signal = init.signal ?? null;
    this.stderr = init.stderr ?? '';
  }
}

/** True for a ProcError, optionally of one failure kind (`isProcError(e, 'TOOL_FAILED')`). */
export function isProcError(err: unknown, failure?: ProcFailure): err is ProcError {
  return err instanceof ProcError && (failure === undefined || err.failure === failure);
}

/** The last few lines of stderr, bounded, for a message a person reads. */
export function stderrSummary(stderr: string): string {
  const tail = stderr.trim().split('\n').slice(-MESSAGE_TAIL_LINES).join('\n');
  return tail.length > MESSAGE_TAIL_CHARS ? `…${tail.slice(-MESSAGE_TAIL_CHARS)}` : tail;
}

export function toolMissing(tool: string, cause?: unknown): ProcError {
  return new ProcError('TOOL_MISSING', `${tool} is not installed (not found on the pinned PATH)`, { tool, cause });
}

export function toolNotExecutable(tool: string, cause?: unknown): ProcError {
  return new ProcError('TOOL_NOT_EXECUTABLE', `${tool} exists but cannot be executed`, { tool, cause });
}

/** A non-zero (or not-ok) exit or a death by signal; the message names the tool and ends with its stderr. */
export function toolFailed(tool: string, exitCode: number | null, signal: NodeJS.Signals | null, stderr: string): ProcError {
  const how = signal !== null ? `killed by ${signal}` : `exit ${String(exitCode)}`;
  const summary = stderrSummary(stderr);
  return new ProcError('TOOL_FAILED', `${tool} failed (${how})${summary === '' ? '' : `: ${summary}`}`, { tool, exitCode, signal, stderr });
}

export function toolTimeout(tool: string, timeoutMs: number, stderr: string): ProcError {
  return new ProcError('TOOL_TIMEOUT', `${tool} did not finish within ${timeoutMs} ms`, { tool, stderr, fields: { timeout_ms: timeoutMs } });
}

export function toolCancelled(tool: string, reason = 'CANCELLED'): ProcError {
  return new ProcError('CANCELLED', `${tool} cancelled`, { tool, reason });
}

export function outputTooLarge(tool: string, maxStdout: number, stderr: string): ProcError {
  return new ProcError('TOOL_OUTPUT_TOO_LARGE', `${tool} wrote more than ${maxStdout} bytes to stdout`, { tool, stderr, fields: { max_stdout: maxStdout } });
}

/** Maps the errno of a failed spawn/exec: ENOENT is a missing tool, EACCES one we may not run. */
export function spawnError(tool: string, err: unknown): ProcError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return toolMissing(tool, err);
  if (code === 'EACCES') return toolNotExecutable(tool, err);
  return new ProcError('SPAWN_FAILED', `cannot start ${tool}: ${code ?? 'unknown error'}`, { tool, cause: err });
}
