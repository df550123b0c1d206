import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { addonPath } from '../native.js';
import type { Account } from './users.js';

const SCRIPT = fileURLToPath(new URL('./swapper.mjs', import.meta.url));

/** Drives swapper.mjs: a process of another uid racing renames against the code under test. */
export class Swapper {
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      this.lines.push(line);
      this.waiter?.();
    });
  }

  static start(as: Account): Swapper {
    const child = spawn(process.execPath, [SCRIPT, addonPath], { uid: as.uid, gid: as.gid, stdio: ['pipe', 'pipe', 'inherit'], env: {} });
    return new Swapper(child);
  }

  private async next(prefix: string, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return this.lines.splice(0, i + 1).at(-1)!;
      if (this.child.exitCode !== null) throw new Error(`swapper exited (${this.child.exitCode}) before "${prefix}"`);
      if (Date.now() > deadline) throw new Error(`swapper did not say "${prefix}" within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Starts swapping `a` and `b`; resolves once a swap has happened (or at once, if not `waitForSwap`). */
  async go(a: string, b: string, target: string, waitForSwap = true): Promise<void> {
    this.child.stdin.write(`go ${a} ${b} ${target}\n`);
    await this.next('armed');
    if (waitForSwap) await this.next('swapping');
  }

  async stop(): Promise<{ swaps: number; symlinksMade: number }> {
    this.child.stdin.write('stop\n');
    const [, swaps, made] = (await this.next('stopped')).split(' ');
    this.lines.length = 0;
    return { swaps: Number(swaps), symlinksMade: Number(made) };
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  }
}
