import { spawn } from 'node:child_process';
import { ImageKitError } from './errors.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal | undefined;
  input?: Buffer | string;
  /** Keep stdout in memory (default true); builds with large output turn it off. */
  captureStdout?: boolean;
  maxStderr?: number;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs a program with an argument vector (never a shell) and turns a non-zero exit,
 * a missing binary or an abort into an ImageKitError carrying the tail of stderr.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new ImageKitError('CANCELLED', 'BUILD_CANCELLED', 'operation cancelled', { cmd }));
      return;
    }
    const child = spawn(cmd, [...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      // Own process group, so an abort also stops grandchildren (debootstrap's dpkg, chroot'd tools).
      detached: true,
    });
    const out: Buffer[] = [];
    let err = '';
    const maxErr = opts.maxStderr ?? 16_384;
    const capture = opts.captureStdout ?? true;
    child.stdout?.on('data', (d: Buffer) => {
      if (capture) out.push(d);
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString('utf8');
      if (err.length > maxErr) err = err.slice(-maxErr);
    });
    let aborted = false;
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        child.kill(sig);
      }
    };
    const onAbort = (): void => {
      aborted = true;
      killGroup('SIGTERM');
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) killGroup('SIGKILL');
      }, 5_000).unref();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', onAbort);
      const missing = e.code === 'ENOENT';
      reject(
        new ImageKitError(
          missing ? 'FAILED_PRECONDITION' : 'INTERNAL',
          missing ? 'TOOL_MISSING' : 'SPAWN_FAILED',
          missing ? `${cmd} is not installed` : `cannot start ${cmd}: ${e.message}`,
          { cmd },
          { cause: e },
        ),
      );
    });
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (aborted) {
        reject(new ImageKitError('CANCELLED', 'BUILD_CANCELLED', 'operation cancelled', { cmd }));
        return;
      }
      if (code !== 0) {
        const tail = err.trim().split('\n').slice(-8).join('\n');
        reject(
          new ImageKitError('INTERNAL', 'COMMAND_FAILED', `${cmd} failed (${sig ?? `exit ${code}`}): ${tail}`, {
            cmd,
            exit: String(code ?? sig),
          }),
        );
        return;
      }
      resolve({ stdout: Buffer.concat(out), stderr: err });
    });
  });
}
