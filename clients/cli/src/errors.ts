import { RpcError } from '@banger/runtime';

/** A bad command line: printed with a hint and exit code 2, never sent to a daemon. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the CLI detects itself (e.g. ssh missing), with the exit code it should end with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Which daemon a client talks to, so an UNAVAILABLE error can name the socket and the fix. */
export interface DaemonInfo {
  name: 'vmd' | 'imaged' | 'privhelper';
  socket: string;
  flag: string;
  envVar: string;
}

const daemonOfError = new WeakMap<object, DaemonInfo>();

export function annotateDaemon(err: unknown, daemon: DaemonInfo): unknown {
  if (err instanceof RpcError && !daemonOfError.has(err)) daemonOfError.set(err, daemon);
  return err;
}

export function daemonOf(err: unknown): DaemonInfo | undefined {
  return typeof err === 'object' && err !== null ? daemonOfError.get(err) : undefined;
}
