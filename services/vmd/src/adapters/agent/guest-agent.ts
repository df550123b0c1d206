import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError, InvalidArgumentError, KeyedLock } from '@banger/runtime';
import type { GuestAgent, GuestExecOptions, GuestExecResult, GuestOutputChunk } from '../../ports/agent.js';
import { QgaSession, qgaReadFile, type AgentChannel } from './qga.js';
import { qgaExecCaptured } from './qga-capture.js';
import { qgaExec, qgaExecStream, type StreamExit } from './qga-exec.js';

/**
 * Runs each agent command on its own session, taken in the VM's queue: a long command (a
 * copy's guest tar) then holds the agent only for each status poll or read, and other calls to
 * the VM go in between. Command state lives in the guest agent (pids, file handles), not in
 * the connection, so it survives the reconnects.
 */
export class SharedAgentChannel implements AgentChannel {
  constructor(
    private readonly socket: string,
    private readonly queues: KeyedLock,
  ) {}

  execute<T = unknown>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<T> {
    return this.queues.run(this.socket, async () => {
      const s = await QgaSession.open(this.socket, 5000);
      try {
        return await s.execute<T>(command, args, timeoutMs);
      } finally {
        s.close();
      }
    });
  }
}

/**
 * qemu-guest-agent access for all VMs. QEMU's chardev takes one client at a time, so calls
 * to one VM are queued here (one KeyedLock per agent socket); different VMs proceed in parallel.
 */
export class QemuGuestAgent implements GuestAgent {
  private readonly queues = new KeyedLock();

  /** One agent session for one call, in this VM's queue. */
  private withSession<T>(socket: string, fn: (s: QgaSession) => Promise<T>): Promise<T> {
    return this.queues.run(socket, async () => {
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
        await this.queues.run(socket, async () => {
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

  exec(socket: string, argv: string[], opts: GuestExecOptions = {}): Promise<GuestExecResult> {
    if (!argv[0]) throw new InvalidArgumentError('command', 'is required');
    return this.withSession(socket, (s) => (opts.overflow === 'fail' ? qgaExecCaptured(s, argv, opts) : qgaExec(s, argv, opts)));
  }

  readFile(socket: string, path: string, opts: { maxBytes: number }): Promise<Buffer | undefined> {
    return this.withSession(socket, (s) => qgaReadFile(s, path, opts.maxBytes));
  }

  execStream(socket: string, argv: string[], onChunk: (c: GuestOutputChunk) => Promise<void>, opts: GuestExecOptions & { timeoutMs: number }): Promise<StreamExit> {
    if (!argv[0]) throw new InvalidArgumentError('command', 'is required');
    if (opts.shareAgent) return qgaExecStream(new SharedAgentChannel(socket, this.queues), argv, onChunk, opts);
    return this.withSession(socket, (s) => qgaExecStream(s, argv, onChunk, opts));
  }
}
