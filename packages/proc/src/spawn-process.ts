import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { TailBuffer } from './capture.js';
import { spawnError } from './errors.js';
import { signalChild, terminate } from './group.js';
import { prepareLaunch, type LaunchOptions } from './launch.js';
import { DEFAULT_KILL_GRACE_MS, DEFAULT_MAX_STDERR } from './run.js';

/** How long `exited` waits, after the exit, for the last stderr bytes still in the pipe. */
const STDERR_DRAIN_MS = 200;

export interface SpawnProcessOptions extends LaunchOptions {
  /** 'ignore' (default, /dev/null), 'pipe' (the handle's `stdin`), or an open fd of ours. */
  readonly stdin?: 'ignore' | 'pipe' | number | undefined;
  /** 'ignore' (default), 'pipe' (the handle's `stdout`), or an fd such as an open log file. */
  readonly stdout?: 'ignore' | 'pipe' | number | undefined;
  /** 'tail' (default: piped, last `maxStderr` bytes kept for `stderrTail()`), 'ignore', or an fd. */
  readonly stderr?: 'tail' | 'ignore' | number | undefined;
  readonly maxStderr?: number | undefined;
}

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running child the caller supervises; see {@link spawnProcess}. */
export interface ProcessHandle {
  readonly pid: number;
  /** Settles once the child has exited (never rejects). */
  readonly exited: Promise<ProcessExit>;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  /** The kept end of stderr ('' unless stderr is 'tail'). */
  stderrTail(): string;
  /** Signals the child's process group (only the child with `detached: false`); false if nothing was there. */
  kill(sig?: NodeJS.Signals): boolean;
  /** SIGTERM to the group, SIGKILL after `graceMs` if anything is left; resolves with the exit. */
  stop(graceMs?: number): Promise<ProcessExit>;
  /**
   * Stops supervising a child meant to outlive this process (a VM's jailer): closes our ends of
   * its pipes and unrefs it, so this process may exit while the child keeps running. `exited`
   * still settles if the child ends first.
   */
  detach(): void;
}

/**
 * Starts a long-running child (a supervised QEMU, a responder in a namespace) with the same
 * pinned environment, privilege drop, no_new_privs and inherited fds as `run`, and hands back
 * control instead of waiting. Resolves once the process exists; a program that cannot be
 * started rejects with the same ProcError `run` gives (TOOL_MISSING...).
 */
export async function spawnProcess(file: string, args: readonly string[], opts: SpawnProcessOptions = {}): Promise<ProcessHandle> {
  const stderrMode = opts.stderr ?? 'tail';
  const launch = await prepareLaunch(file, args, opts, [opts.stdin ?? 'ignore', opts.stdout ?? 'ignore', stderrMode === 'tail' ? 'pipe' : stderrMode]);
  let child: ChildProcess;
  try {
    child = spawn(launch.file, launch.args, launch.options);
  } catch (err) {
    throw spawnError(file, err);
  }
  const tail = new TailBuffer(opts.maxStderr ?? DEFAULT_MAX_STDERR);
  const stderrClosed = new Promise<void>((resolve) => {
    if (child.stderr === null) return resolve();
    child.stderr.on('data', (d: Buffer) => tail.push(d));
    child.stderr.once('close', () => resolve());
  });
  const exitedRaw = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (err) => reject(spawnError(file, err)));
  });
  // Later 'error' events (a failed signal) must not crash the daemon; kill() reports its own result.
  child.on('error', () => undefined);
  const pid = child.pid;
  if (pid === undefined) throw spawnError(file, undefined);
  // A grandchild holding stderr open must not keep `exited` pending.
  const exited = exitedRaw.then(async (e) => {
    await Promise.race([stderrClosed, new Promise((r) => setTimeout(r, STDERR_DRAIN_MS))]);
    return e;
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    pid,
    exited,
    stdin: child.stdin,
    stdout: child.stdout,
    stderrTail: () => tail.toString(),
    kill: (sig = 'SIGTERM') => signalChild(pid, launch.group, sig),
    stop: (graceMs = DEFAULT_KILL_GRACE_MS) => {
      terminate(pid, launch.group, graceMs, alive);
      return exited;
    },
    detach: () => {
      for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
      child.unref();
    },
  };
}
