import { connect, type Socket } from 'node:net';
import { DeadlineExceededError, FailedPreconditionError, ResourceExhaustedError, UnavailableError } from '@banger/runtime';
import { fileChunk, fileHandle, MAX_AGENT_LINE_BYTES, protocolError, READ_CHUNK_BYTES } from './qga-values.js';

export interface ExecOptions {
  env?: Record<string, string>;
  input?: Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  user?: string;
  workingDir?: string;
  /** Most bytes kept of each of stdout and stderr (qgaExec); more is dropped and reported truncated. */
  maxOutputBytes?: number;
  /**
   * The longest pause between status polls while the command prints nothing (default
   * DEFAULT_MAX_POLL_MS). Every poll costs the emulated guest CPU time.
   */
  maxPollMs?: number;
  /** How long a killed command's exit is waited for, and the fixed part of the final read's time (default DRAIN_GRACE_MS). */
  drainGraceMs?: number;
}

/** How often an unanswered sync is resent while the guest boots. */
const RESYNC_MS = 250;

interface QgaError {
  class: string;
  desc: string;
}

/** What runs agent commands: one session, or a fresh session per command (SharedAgentChannel). */
export interface AgentChannel {
  execute<T = unknown>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<T>;
}

/**
 * One connection to qemu-guest-agent over the VM's virtio-serial socket. QEMU's chardev
 * accepts a single client, so callers serialise per VM (see GuestAgents). Each session starts
 * with guest-sync-delimited, which discards whatever a previous client left in the channel.
 */
export class QgaSession implements AgentChannel {
  private buffer: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private closed = false;
  /** Why the connection was dropped by us (the guest broke a bound); every later call fails with it. */
  private failure: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly maxLineBytes: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      if (this.failure) return;
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      // Unread bytes are bounded as a whole, not only the line in progress: answers are read as
      // they come, so more than a line's worth waiting means the guest is flooding us.
      if (this.buffer.length > this.maxLineBytes) {
        this.failure = new ResourceExhaustedError('AGENT_LINE_TOO_LONG', `guest agent sent more than ${this.maxLineBytes} bytes without finishing an answer; connection dropped`, {
          fields: { limit: this.maxLineBytes },
        });
        this.buffer = Buffer.alloc(0);
        socket.destroy();
      }
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  /**
   * Connects and syncs. A session whose sync fails is closed here: a connection left open
   * keeps QEMU serving it (its chardev takes one client at a time, with a listen backlog of
   * one), so the next caller's connection waits in the backlog, and the one after gets EAGAIN
   * for as long as vmd runs.
   */
  static async open(path: string, timeoutMs: number, opts: { maxLineBytes?: number } = {}): Promise<QgaSession> {
    const deadline = Date.now() + timeoutMs;
    const socket = await connectAgent(path, timeoutMs);
    const session = new QgaSession(socket, opts.maxLineBytes ?? MAX_AGENT_LINE_BYTES);
    try {
      await session.sync(Math.max(1, deadline - Date.now()));
    } catch (err) {
      session.close();
      throw err;
    }
    return session;
  }

  private async waitFor<T>(extract: () => T | undefined, deadline: number): Promise<T> {
    for (;;) {
      const got = extract();
      if (got !== undefined) return got;
      if (this.failure) throw this.failure;
      if (this.closed) throw new UnavailableError('AGENT_DISCONNECTED', 'guest agent connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new DeadlineExceededError('AGENT_TIMEOUT', 'guest agent did not answer in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  private nextLine(): string | undefined {
    const nl = this.buffer.indexOf(0x0a);
    if (nl < 0) return undefined;
    const line = this.buffer.subarray(0, nl).toString('utf8').trim();
    this.buffer = this.buffer.subarray(nl + 1);
    return line;
  }

  /**
   * The id of the next complete 0xFF-delimited response in the buffer, dropping everything
   * before it (undelimited lines are answers meant for someone else, or the agent's parse
   * error for our own 0xFF reset byte).
   */
  private takeDelimited(): number | undefined {
    for (;;) {
      const ff = this.buffer.indexOf(0xff);
      if (ff < 0) {
        this.buffer = Buffer.alloc(0);
        return undefined;
      }
      const nl = this.buffer.indexOf(0x0a, ff);
      if (nl < 0) {
        this.buffer = this.buffer.subarray(ff);
        return undefined;
      }
      const line = this.buffer.subarray(ff + 1, nl).toString('utf8');
      this.buffer = this.buffer.subarray(nl + 1);
      try {
        const parsed = JSON.parse(line) as { return?: unknown };
        if (typeof parsed.return === 'number') return parsed.return;
      } catch {
        /* not a sync answer: keep scanning */
      }
    }
  }

  /**
   * Brings the channel to a known state. Right after boot the guest side is not open yet, so
   * QEMU holds our bytes until the agent starts and then delivers them all at once: each resend
   * (a 0xFF reset byte, which the agent answers with a parse error, then a sync with a fresh
   * id) gets its own answer. We stop resending at the first answer to any of our ids, then wait
   * for the answer to the last one we sent, so nothing of ours is still in flight when the
   * first real command goes out.
   */
  private async sync(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const first = Math.floor(Math.random() * 2 ** 30) + 1;
    let last = first - 1;
    let answered = false;
    const lastAnswered = (): true | undefined => {
      for (let id = this.takeDelimited(); id !== undefined; id = this.takeDelimited()) {
        if (id === last) return true;
        if (id >= first && id < last) answered = true;
      }
      return undefined;
    };
    for (;;) {
      if (!answered) {
        last += 1;
        // A raw 0xFF first makes the agent drop whatever half-parsed input an earlier client
        // left behind (a closed connection mid-command would otherwise wedge its JSON parser).
        this.socket.write(Buffer.from([0xff]));
        this.socket.write(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id: last } })}\n`);
      }
      try {
        await this.waitFor(lastAnswered, answered ? deadline : Math.min(deadline, Date.now() + RESYNC_MS));
        return;
      } catch (err) {
        if (!(err instanceof DeadlineExceededError) || Date.now() >= deadline) throw err;
      }
    }
  }

  /**
   * Sends one command and answers its `return` value, unchecked: callers that act on it pass
   * it through a validator (qga-values.ts) first.
   */
  async execute<T = unknown>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<T> {
    if (this.failure) throw this.failure;
    this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    const line = await this.waitFor(() => {
      for (;;) {
        const l = this.nextLine();
        if (l === undefined) return undefined;
        if (l !== '') return l;
      }
    }, Date.now() + timeoutMs);
    let parsed: { return?: T; error?: QgaError };
    try {
      parsed = JSON.parse(line) as { return?: T; error?: QgaError };
    } catch {
      throw protocolError(command, 'answer is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null) throw protocolError(command, 'answer is not an object');
    if (parsed.error) {
      const desc = typeof parsed.error.desc === 'string' ? parsed.error.desc.slice(0, 512) : 'error';
      throw new FailedPreconditionError('AGENT_ERROR', `guest agent ${command}: ${desc}`, { fields: { class: String(parsed.error.class).slice(0, 64) } });
    }
    return parsed.return as T;
  }

  close(): void {
    this.socket.destroy();
  }
}

function connectAgent(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const s = connect(path);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new UnavailableError('AGENT_UNREACHABLE', `guest agent socket ${path} did not accept a connection`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      s.destroy();
      reject(new UnavailableError('AGENT_UNREACHABLE', `guest agent socket ${path}: ${err.code ?? err.message}`, { cause: err }));
    });
  });
}

/** Reads at most `want` bytes from an open guest file, checked against what was asked. */
export async function readChunk(session: AgentChannel, handle: number, want: number, timeoutMs = 10_000): Promise<{ data: Buffer; eof: boolean }> {
  return fileChunk(await session.execute('guest-file-read', { handle, count: want }, timeoutMs), want);
}

/**
 * Reads a whole guest file through guest-file-open/read/close: no process is started in the
 * guest, which matters while it is still busy booting. Resolves undefined when the file cannot
 * be opened (not there yet); larger than maxBytes is an error. Never asks for more than one
 * byte past maxBytes, so a guest cannot make vmd hold more whatever it answers.
 */
export async function qgaReadFile(session: QgaSession, path: string, maxBytes: number): Promise<Buffer | undefined> {
  const opened = await session.execute('guest-file-open', { path, mode: 'r' }, 10_000).catch((err: unknown) => {
    if (err instanceof FailedPreconditionError && err.reason === 'AGENT_ERROR') return undefined;
    throw err;
  });
  if (opened === undefined) return undefined;
  const handle = fileHandle(opened);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const r = await readChunk(session, handle, Math.min(READ_CHUNK_BYTES, maxBytes + 1 - total));
      total += r.data.length;
      if (total > maxBytes) throw new FailedPreconditionError('AGENT_FILE_TOO_LARGE', `guest file ${path} is larger than ${maxBytes} bytes`, { fields: { path } });
      chunks.push(r.data);
      if (r.eof || r.data.length === 0) return Buffer.concat(chunks);
    }
  } finally {
    await session.execute('guest-file-close', { handle }, 5000).catch(() => undefined);
  }
}
