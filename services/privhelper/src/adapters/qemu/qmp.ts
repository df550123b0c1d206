import { EventEmitter } from 'node:events';
import net from 'node:net';
import { VmHostError } from '../../domain/vmspec/errors.js';

export interface QmpEvent {
  readonly event: string;
  readonly data?: unknown;
  readonly timestamp?: { seconds: number; microseconds: number };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * Minimal QMP client: one Unix-socket connection, the capabilities handshake, `execute` with a
 * per-command id, and events re-emitted as 'event'. Enough for stop/quit/status; anything more
 * belongs in a named method here, never a pass-through.
 */
export class QmpClient extends EventEmitter<{ event: [QmpEvent]; close: [] }> {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    super();
  }

  static async connect(socketPath: string, timeoutMs = 5000): Promise<QmpClient> {
    const sock = net.createConnection(socketPath);
    const client = new QmpClient(sock);
    const greeting = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(unavailable(`QMP greeting timed out on ${socketPath}`)), timeoutMs);
      client.greet = () => {
        clearTimeout(timer);
        resolve();
      };
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(unavailable(`QMP connect failed: ${err.message}`, err));
      });
    });
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => client.onData(d));
    sock.on('close', () => client.onClose());
    sock.on('error', () => undefined);
    try {
      await greeting;
      await client.execute('qmp_capabilities', undefined, timeoutMs);
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  private greet: () => void = () => undefined;

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<T> {
    if (this.closed) return Promise.reject(unavailable('QMP connection closed'));
    const id = `b${this.nextId++}`;
    const msg = JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id });
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new VmHostError('DEADLINE_EXCEEDED', 'QMP_TIMEOUT', `QMP ${command} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.sock.write(`${msg}\n`);
    });
  }

  /** ctrl-alt-delete through the emulated i8042; with -no-reboot the guest's reboot ends QEMU. */
  sendCtrlAltDelete(): Promise<unknown> {
    return this.execute('send-key', {
      keys: ['ctrl', 'alt', 'delete'].map((k) => ({ type: 'qcode', data: k })),
    });
  }

  async queryStatus(): Promise<{ status: string; running: boolean }> {
    return this.execute<{ status: string; running: boolean }>('query-status');
  }

  /** `quit` may close the socket before the reply arrives; that counts as success. */
  async quit(): Promise<void> {
    try {
      await this.execute('quit', undefined, 3000);
    } catch (err) {
      if (!this.closed) throw err;
    }
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line !== '') this.onMessage(line);
    }
    if (this.buf.length > 1_000_000) this.close();
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ('QMP' in msg) return this.greet();
    if (typeof msg['event'] === 'string') {
      this.emit('event', msg as unknown as QmpEvent);
      return;
    }
    const id = typeof msg['id'] === 'string' ? msg['id'] : undefined;
    const p = id === undefined ? undefined : this.pending.get(id);
    if (p === undefined || id === undefined) return;
    this.pending.delete(id);
    if ('error' in msg) {
      const e = msg['error'] as { class?: string; desc?: string };
      p.reject(new VmHostError('INTERNAL', 'QMP_ERROR', `QMP error ${e.class ?? '?'}: ${e.desc ?? ''}`));
    } else {
      p.resolve(msg['return']);
    }
  }

  private onClose(): void {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(unavailable('QMP connection closed'));
    this.pending.clear();
    this.emit('close');
  }
}

function unavailable(message: string, cause?: unknown): VmHostError {
  return new VmHostError('UNAVAILABLE', 'QMP_UNAVAILABLE', message, {}, { cause });
}
