import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError, InvalidArgumentError } from '@banger/runtime';
import type { GuestAgent, GuestExecResult } from '../../ports/agent.js';
import { QgaSession, qgaExec, qgaReadFile } from './qga.js';
import { qgaExecStream, type ExecChunk } from './qga-stream.js';

/**
 * qemu-guest-agent access for all VMs. QEMU's chardev takes one client at a time, so calls
 * to one VM are serialised here; different VMs proceed in parallel.
 */
export class QemuGuestAgent implements GuestAgent {
  private readonly queues = new Map<string, Promise<unknown>>();

  private serial<T>(socket: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(socket) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.queues.set(socket, tail);
    void tail.then(() => {
      if (this.queues.get(socket) === tail) this.queues.delete(socket);
    });
    return next;
  }

  /** One agent session for one call, in this VM's queue. */
  private withSession<T>(socket: string, fn: (s: QgaSession) => Promise<T>): Promise<T> {
    return this.serial(socket, async () => {
      const s = await QgaSession.open(socket, 5000);
      try {
        return await fn(s);
      } finally {
        s.close();
      }
    });
  }

  async waitReady(socket: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      try {
        await this.serial(socket, async () => {
          // One connection for the whole wait: the session resends its sync until the agent
          // answers, so we do not churn connections while the guest boots. The answer to the
          // sync is the agent answering: no extra guest-ping round trip into a guest that is
          // busy starting its services.
          const s = await QgaSession.open(socket, Math.max(1000, deadline - Date.now()));
          s.close();
        });
        return;
      } catch (err) {
        last = err;
        await sleep(200);
      }
    }
    throw new DeadlineExceededError('AGENT_TIMEOUT', `guest agent did not answer within ${Math.round(timeoutMs / 1000)} s`, { cause: last });
  }

  exec(socket: string, argv: string[], opts: { timeoutMs?: number; env?: Record<string, string>; input?: Buffer } = {}): Promise<GuestExecResult> {
    const [path, ...args] = argv;
    if (!path) throw new InvalidArgumentError('command', 'is required');
    return this.withSession(socket, (s) => qgaExec(s, path, args, opts));
  }

  readFile(socket: string, path: string, opts: { maxBytes: number }): Promise<Buffer | undefined> {
    return this.withSession(socket, (s) => qgaReadFile(s, path, opts.maxBytes));
  }

  execStream(socket: string, argv: string[], onChunk: (c: ExecChunk) => Promise<void>, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<{ exitCode: number }> {
    if (argv.length === 0 || !argv[0]) throw new InvalidArgumentError('command', 'is required');
    return this.withSession(socket, (s) => qgaExecStream(s, argv, onChunk, opts));
  }
}
