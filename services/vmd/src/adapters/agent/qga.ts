import { connect, type Socket } from 'node:net';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError, FailedPreconditionError, UnavailableError } from '@banger/runtime';

/** What a guest command produced. Output is capped by the agent (qemu-ga: 16 MiB). */
export interface ExecResult {
  exitCode: number;
  /** Signal name when the command was killed by one, else ''. */
  signal: string;
  /** True when the command ran past its timeout and was killed. */
  timedOut: boolean;
  stdout: Buffer;
  stderr: Buffer;
  truncated: boolean;
}

export interface ExecOptions {
  env?: Record<string, string>;
  input?: Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  user?: string;
  workingDir?: string;
}

/** How often an unanswered sync is resent while the guest boots. */
const RESYNC_MS = 250;

interface QgaError {
  class: string;
  desc: string;
}

/**
 * One connection to qemu-guest-agent over the VM's virtio-serial socket. QEMU's chardev
 * accepts a single client, so callers serialise per VM (see GuestAgents). Each session starts
 * with guest-sync-delimited, which discards whatever a previous client left in the channel.
 */
export class QgaSession {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static async open(path: string, timeoutMs: number): Promise<QgaSession> {
    const socket = await new Promise<Socket>((resolve, reject) => {
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
        reject(new UnavailableError('AGENT_UNREACHABLE', `guest agent socket ${path}: ${err.code ?? err.message}`, { cause: err }));
      });
    });
    const session = new QgaSession(socket);
    await session.sync(timeoutMs);
    return session;
  }

  private async waitFor<T>(extract: () => T | undefined, deadline: number): Promise<T> {
    for (;;) {
      const got = extract();
      if (got !== undefined) return got;
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

  async execute<T>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<T> {
    this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    const line = await this.waitFor(() => {
      for (;;) {
        const l = this.nextLine();
        if (l === undefined) return undefined;
        if (l !== '') return l;
      }
    }, Date.now() + timeoutMs);
    const parsed = JSON.parse(line) as { return?: T; error?: QgaError };
    if (parsed.error) throw new FailedPreconditionError('AGENT_ERROR', `guest agent ${command}: ${parsed.error.desc}`, { fields: { class: parsed.error.class } });
    return parsed.return as T;
  }

  close(): void {
    this.socket.destroy();
  }
}

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
  'out-truncated'?: boolean;
  'err-truncated'?: boolean;
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** A guest signal number by name (guests are Linux on the host's architecture). */
export function signalName(n: number | undefined): string {
  return n === undefined || n === 0 ? '' : (SIGNAL_NAMES.get(n) ?? `SIG${n}`);
}

/**
 * The argv that runs `argv` as `user` in `workingDir` (both optional; a user without a
 * directory starts in the user's home). Everything travels as positional parameters of a
 * fixed script, never as shell text.
 */
export function wrapCommand(argv: readonly string[], opts: { user?: string | undefined; workingDir?: string | undefined }): string[] {
  const user = opts.user ?? '';
  const dir = opts.workingDir ?? '';
  if (!user && !dir) return [...argv];
  const script = [
    'd=$1; u=$2; shift 2',
    'if [ -n "$u" ]; then exec runuser -u "$u" -- /bin/sh -c \'cd -- "${1:-$HOME}" || exit 126; shift; exec "$@"\' banger-exec "$d" "$@"; fi',
    'cd -- "$d" || exit 126; exec "$@"',
  ].join('\n');
  return ['/bin/sh', '-c', script, 'banger-exec', dir, user, ...argv];
}

/** Kills a guest process and everything it started (stopped first, so it cannot fork meanwhile). */
export async function killGuestTree(session: QgaSession, pid: number): Promise<void> {
  const script = 'k() { kill -STOP "$1" 2>/dev/null; for c in $(pgrep -P "$1"); do k "$c"; done; kill -KILL "$1" 2>/dev/null; }; k "$1"';
  await session.execute('guest-exec', { path: '/bin/sh', arg: ['-c', script, 'banger-kill', String(pid)], 'capture-output': false }, 10_000).catch(() => undefined);
}

/** Waits (briefly) for a process the agent started to be gone, after it was killed. */
async function reap(session: QgaSession, pid: number): Promise<ExecStatus | undefined> {
  for (let i = 0; i < 50; i++) {
    const st = await session.execute<ExecStatus>('guest-exec-status', { pid }, 10_000).catch(() => undefined);
    if (!st || st.exited) return st;
    await sleep(100);
  }
  return undefined;
}

/**
 * Runs a program in the guest through guest-exec and polls guest-exec-status until it ends.
 * Past its timeout the command (with what it started) is killed and reported timed out; a
 * cancelled call kills it too and fails EXEC_CANCELLED.
 */
export async function qgaExec(session: QgaSession, argvIn: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [path = '', ...args] = wrapCommand(argvIn, opts);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const { pid } = await session.execute<{ pid: number }>(
    'guest-exec',
    {
      path,
      arg: args,
      'capture-output': true,
      ...(opts.env ? { env: Object.entries(opts.env).map(([k, v]) => `${k}=${v}`) } : {}),
      ...(opts.input ? { 'input-data': opts.input.toString('base64') } : {}),
    },
    10_000,
  );
  const result = (st: ExecStatus, timedOut: boolean): ExecResult => ({
    exitCode: st.exitcode ?? -1,
    signal: signalName(st.signal),
    timedOut,
    stdout: Buffer.from(st['out-data'] ?? '', 'base64'),
    stderr: Buffer.from(st['err-data'] ?? '', 'base64'),
    truncated: st['out-truncated'] === true || st['err-truncated'] === true,
  });
  let delay = 20;
  for (;;) {
    const st = await session.execute<ExecStatus>('guest-exec-status', { pid }, 10_000);
    if (st.exited) return result(st, false);
    if (opts.signal?.aborted) {
      await killGuestTree(session, pid);
      throw new DeadlineExceededError('EXEC_CANCELLED', 'command cancelled while running in the guest');
    }
    if (Date.now() > deadline) {
      await killGuestTree(session, pid);
      const after = await reap(session, pid);
      return result(after ?? { exited: true, signal: constants.signals.SIGKILL }, true);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
}

/** What guest-file-read answers. */
export interface FileRead {
  count: number;
  'buf-b64': string;
  eof: boolean;
}

/**
 * Reads a whole guest file through guest-file-open/read/close: no process is started in the
 * guest, which matters while it is still busy booting. Resolves undefined when the file cannot
 * be opened (not there yet); larger than maxBytes is an error.
 */
export async function qgaReadFile(session: QgaSession, path: string, maxBytes: number): Promise<Buffer | undefined> {
  const handle = await session.execute<number>('guest-file-open', { path, mode: 'r' }, 10_000).catch((err: unknown) => {
    if (err instanceof FailedPreconditionError) return undefined;
    throw err;
  });
  if (handle === undefined) return undefined;
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const r = await session.execute<FileRead>('guest-file-read', { handle, count: 65536 }, 10_000);
      total += r.count;
      if (total > maxBytes) throw new FailedPreconditionError('AGENT_FILE_TOO_LARGE', `guest file ${path} is larger than ${maxBytes} bytes`, { fields: { path } });
      chunks.push(Buffer.from(r['buf-b64'], 'base64'));
      if (r.eof || r.count === 0) return Buffer.concat(chunks);
    }
  } finally {
    await session.execute('guest-file-close', { handle }, 5000).catch(() => undefined);
  }
}
