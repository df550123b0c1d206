export interface GuestExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  truncated: boolean;
}

/** The guest agent of a running VM, reached through its host-side socket. */
export interface GuestAgent {
  /** Resolves once the agent answers; rejects with DEADLINE_EXCEEDED after timeoutMs. */
  waitReady(socket: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  exec(socket: string, argv: string[], opts?: { timeoutMs?: number; env?: Record<string, string>; input?: Buffer }): Promise<GuestExecResult>;
  /** Reads a guest file without starting a process; undefined when it does not exist (yet). */
  readFile(socket: string, path: string, opts: { maxBytes: number }): Promise<Buffer | undefined>;
  /** Runs a command and hands over its output while it runs. */
  execStream(
    socket: string,
    argv: string[],
    onChunk: (chunk: { stream: 'stdout' | 'stderr'; data: Buffer }) => Promise<void>,
    opts: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<{ exitCode: number }>;
}
