import { EventEmitter } from 'node:events';
import net from 'node:net';
import { sendFds, socketFdOf } from '@banger/sys';
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
    return this.send<T>(command, args, timeoutMs, undefined);
  }

  private send<T>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number, fd: number | undefined): Promise<T> {
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
      const bytes = Buffer.from(`${msg}\n`);
      if (fd === undefined) {
        this.sock.write(bytes);
        return;
      }
      // The descriptor rides on the command's own bytes (SCM_RIGHTS), as QEMU's getfd expects.
      const fail = (err: Error): void => {
        this.pending.get(id)?.reject(err);
        this.pending.delete(id);
      };
      const sockFd = socketFdOf(this.sock);
      if (sockFd === undefined) return fail(unavailable('QMP connection closed'));
      try {
        const sent = sendFds(sockFd, bytes, [fd]);
        if (sent < bytes.length) this.sock.write(bytes.subarray(sent));
      } catch (err) {
        fail(unavailable(`QMP ${command}: the descriptor could not be sent: ${(err as Error).message}`, err));
      }
    });
  }

  /** `getfd`: hands QEMU a descriptor under a name a later `migrate fd:NAME` uses. */
  async passFd(name: string, fd: number): Promise<void> {
    await this.send('getfd', { fdname: name }, 5000, fd);
  }

  /** Pauses the vCPUs (guest RAM and devices stay as they are). */
  async stop(): Promise<void> {
    await this.execute('stop');
  }

  async cont(): Promise<void> {
    await this.execute('cont');
  }

  async setMigrationCapabilities(caps: Readonly<Record<string, boolean>>): Promise<void> {
    await this.execute('migrate-set-capabilities', { capabilities: Object.entries(caps).map(([capability, state]) => ({ capability, state })) });
  }

  /** Starts an outgoing migration into a descriptor passed with passFd. */
  async migrateToFd(name: string): Promise<void> {
    await this.execute('migrate', { uri: `fd:${name}` });
  }

  /** Starts the incoming side (QEMU started with `-incoming defer`) from a descriptor passed with passFd. */
  async migrateIncomingFromFd(name: string): Promise<void> {
    await this.execute('migrate-incoming', { uri: `fd:${name}` });
  }

  async queryMigrate(timeoutMs = 5000): Promise<{ status?: string; 'error-desc'?: string; ram?: { transferred?: number } }> {
    return this.execute('query-migrate', undefined, timeoutMs);
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
