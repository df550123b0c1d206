import { excerpt, InvalidArgumentError } from '@banger/runtime/errors';

/** A command to run in the guest, as a request gives it (ExecCommand). */
export interface GuestCommandInput {
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  stdin: Buffer;
  user: string;
  workingDir: string;
  /** undefined: no limit of its own (the call's deadline still applies). */
  timeoutMs: number | undefined;
}

export interface GuestCommand {
  argv: string[];
  env: Record<string, string> | undefined;
  input: Buffer | undefined;
  user: string;
  workingDir: string;
  timeoutMs: number | undefined;
}

const USER = /^[a-z_][a-z0-9_-]{0,31}\$?$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function hasNul(s: string): boolean {
  return s.includes('\u0000');
}

/**
 * Checks every field of a guest command; each one is then honoured (argv, env, stdin, user,
 * working directory, timeout), none ignored. Values are handed to the guest as argument
 * vectors, never as shell text, but NUL bytes cannot cross an exec and are refused.
 */
export function validateGuestCommand(c: GuestCommandInput): GuestCommand {
  if (c.argv.length === 0 || !c.argv[0]) throw new InvalidArgumentError('command', 'is required: give the program and its arguments');
  c.argv.forEach((a, i) => {
    if (hasNul(a)) throw new InvalidArgumentError(`command.argv[${i}]`, 'must not contain NUL bytes', 'INVALID_ARGV');
  });
  for (const [k, v] of Object.entries(c.env)) {
    if (!ENV_KEY.test(k)) throw new InvalidArgumentError('command.env', `${excerpt(k)} is not an environment variable name`, 'INVALID_ENV');
    if (hasNul(v)) throw new InvalidArgumentError('command.env', `${k} must not contain NUL bytes`, 'INVALID_ENV');
  }
  if (c.user !== '' && !USER.test(c.user)) throw new InvalidArgumentError('command.user', `${excerpt(c.user)} is not a user name`, 'INVALID_USER');
  if (c.workingDir !== '' && (!c.workingDir.startsWith('/') || hasNul(c.workingDir) || c.workingDir.length > 4096)) {
    throw new InvalidArgumentError('command.working_dir', 'must be an absolute path', 'INVALID_WORKING_DIR');
  }
  if (c.timeoutMs !== undefined && c.timeoutMs <= 0) throw new InvalidArgumentError('command.timeout', 'must be greater than zero when set', 'INVALID_DURATION');
  return {
    argv: [...c.argv],
    env: Object.keys(c.env).length > 0 ? { ...c.env } : undefined,
    input: c.stdin.length > 0 ? c.stdin : undefined,
    user: c.user,
    workingDir: c.workingDir,
    timeoutMs: c.timeoutMs,
  };
}

/** What exec keeps of each of stdout and stderr unless the request asks otherwise. */
export const DEFAULT_EXEC_OUTPUT_BYTES = 1 << 20;
/** The most a request may ask exec to keep per stream (qemu-ga's own capture limit). */
export const MAX_EXEC_OUTPUT_BYTES = 16 << 20;

/** A request's per-stream output limit (0 or unset: the default), refused past the maximum. */
export function validateOutputLimit(maxOutputBytes: number | undefined): number {
  if (maxOutputBytes === undefined || maxOutputBytes === 0) return DEFAULT_EXEC_OUTPUT_BYTES;
  if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 0 || maxOutputBytes > MAX_EXEC_OUTPUT_BYTES) {
    throw new InvalidArgumentError('max_output_bytes', `must be between 1 and ${MAX_EXEC_OUTPUT_BYTES} (0 means the default, ${DEFAULT_EXEC_OUTPUT_BYTES})`, 'INVALID_OUTPUT_LIMIT');
  }
  return maxOutputBytes;
}
