export interface GuestExecOptions {
  /** The command is killed when it runs longer; the result then says timedOut. */
  timeoutMs?: number;
  env?: Record<string, string>;
  input?: Buffer;
  /** Guest user to run as; '' or undefined runs as root (the agent's user). */
  user?: string;
  /** Working directory; with a user and none given, the user's home. */
  workingDir?: string;
  signal?: AbortSignal;
  /** Most bytes of each of stdout and stderr exec keeps (0 or unset: 1 MiB; at most 16 MiB). */
  maxOutputBytes?: number;
  /**
   * Output past maxOutputBytes: 'truncate' (the default) keeps the first bytes and says so;
   * 'fail' is for vmd's own short commands (one guest process, no files, at most 256 KiB per
   * stream) and fails AGENT_OUTPUT_TOO_LARGE.
   */
  overflow?: 'truncate' | 'fail';
  /**
   * execStream only: take the VM's agent per command rather than for the whole run, so a
   * long-running command (a copy's guest tar) does not make every other call to the VM wait.
   */
  shareAgent?: boolean;
  /** Longest pause between status polls of a quiet command (default 400 ms): polls cost guest CPU. */
  maxPollMs?: number;
}

export interface GuestExecResult {
  exitCode: number;
  /** Signal name (e.g. SIGKILL) when the command was killed by one, else ''. */
  signal: string;
  /** True when the command hit its timeout and was killed. */
  timedOut: boolean;
  stdout: Buffer;
  stderr: Buffer;
  /** Output was dropped: past the byte limit, or still coming when the drain time ran out. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

export type GuestOutputChunk = { stream: 'stdout' | 'stderr'; data: Buffer };

/** The guest agent of a running VM, reached through its host-side socket. */
export interface GuestAgent {
  /** Resolves once the agent answers; rejects with DEADLINE_EXCEEDED after timeoutMs. */
  waitReady(socket: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  exec(socket: string, argv: string[], opts?: GuestExecOptions): Promise<GuestExecResult>;
  /** Reads a guest file without starting a process; undefined when it does not exist (yet). */
  readFile(socket: string, path: string, opts: { maxBytes: number }): Promise<Buffer | undefined>;
  /** Runs a command and hands over its output while it runs. */
  execStream(socket: string, argv: string[], onChunk: (chunk: GuestOutputChunk) => Promise<void>, opts: GuestExecOptions & { timeoutMs: number }): Promise<Omit<GuestExecResult, 'stdout' | 'stderr'>>;
}
