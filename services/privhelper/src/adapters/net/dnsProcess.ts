import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnProcess, type ProcessHandle } from '@banger/proc';
import { COMPILED } from '@banger/runtime/compiled';
import type { Logger } from 'pino';
import { validateRecords, type DnsRecord } from '../../domain/network/dnsRecords.js';
import { NetError, type NetErrorKind } from '../../domain/network/errors.js';
import type { EgressEntry, SyncResult } from './dns.js';

/**
 * How the responder's node is started: the compiled dns-main bundle next to privhelper's
 * (production never loads tsx), or, from source (tests of this module under tsx), the
 * TypeScript through tsx with its disk cache off: root, and its /tmp may be shared.
 */
function responderCommand(): { args: string[]; env: Record<string, string> } {
  if (COMPILED) return { args: [fileURLToPath(new URL('../../../dist/dns-main.mjs', import.meta.url))], env: {} };
  return { args: ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('./dnsMain.ts', import.meta.url))], env: { TSX_DISABLE_CACHE: '1' } };
}

interface Reply {
  listening?: { address: string; port: number };
  error?: { kind: NetErrorKind; reason: string; message: string };
  ok?: boolean;
  kind?: NetErrorKind;
  reason?: string;
  message?: string;
  recordCount?: number;
  added?: number;
  removed?: number;
  egressCount?: number;
}

/** Forwarding for the responder in the namespace; learned addresses go to nft from inside it. */
export interface NetnsDnsForward {
  readonly upstream: { readonly host: string; readonly port: number };
  /** The guest network, "a.b.c.d/n". */
  readonly clients: string;
  readonly ttlMin: number;
  readonly ttlMax: number;
}

/**
 * The `.vm` responder inside the configured network namespace. Node cannot bind a socket in
 * another namespace from this process, so it runs dnsMain.ts under `ip netns exec` and talks
 * to it over stdio (one JSON line each way). Requests are serialised. Records synced before
 * it listens are kept and sent once it does; a child that died is started again by the next
 * sync.
 */
export class NetnsDnsProcess {
  private child: { readonly handle: ProcessHandle; exited: boolean } | undefined;
  private lines: AsyncIterator<string> | undefined;
  private rl: Interface | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private records: readonly DnsRecord[] = [];
  private bind: { address: string; port: number } | undefined;
  private egress: readonly EgressEntry[] = [];

  constructor(
    private readonly opts: { netns: string; ipPath?: string; zone: string; forward?: NetnsDnsForward | undefined; log?: Logger },
  ) {}

  /** Replaces the VMs' hostname policies; kept and re-sent when the responder (re)starts. */
  syncEgress(entries: readonly EgressEntry[]): Promise<number> {
    return this.serial(async () => {
      this.egress = entries;
      if (!this.running()) return entries.length;
      const r = await this.ask({ egress: entries });
      if (!r.ok) throw new NetError(r.kind ?? 'INTERNAL', r.reason ?? 'DNS_SYNC_FAILED', r.message ?? 'dns egress sync failed');
      return r.egressCount ?? 0;
    });
  }

  /** Starts the responder on ADDRESS:PORT inside the namespace; resolves once it listens. */
  listen(address: string, port: number): Promise<{ address: string; port: number }> {
    return this.serial(async () => {
      const bound = await this.start(address, port);
      this.bind = { address, port };
      if (this.records.length > 0) await this.send(this.records);
      if (this.egress.length > 0) await this.ask({ egress: this.egress });
      return bound;
    });
  }

  syncRecords(records: readonly DnsRecord[]): Promise<SyncResult> {
    // Checked here, not only by the responder: records kept while it is not running would
    // otherwise be accepted unchecked and only refused (or break its start) later.
    validateRecords(records);
    return this.serial(async () => {
      if (!this.running()) {
        if (this.bind === undefined) {
          // Not listening yet: keep them for when it does.
          const before = new Set(this.records.map((r) => `${r.name} ${r.ipv4}`));
          const after = new Set(records.map((r) => `${r.name} ${r.ipv4}`));
          this.records = records;
          return { recordCount: records.length, added: [...after].filter((n) => !before.has(n)).length, removed: [...before].filter((n) => !after.has(n)).length };
        }
        this.opts.log?.warn({ netns: this.opts.netns }, 'dns responder not running; starting it again');
        await this.start(this.bind.address, this.bind.port);
        if (this.egress.length > 0) await this.ask({ egress: this.egress });
      }
      const result = await this.send(records);
      this.records = records;
      return result;
    });
  }

  private running(): boolean {
    return this.child !== undefined && !this.child.exited;
  }

  private async send(records: readonly DnsRecord[]): Promise<SyncResult> {
    const r = await this.ask({ records });
    if (!r.ok) throw new NetError(r.kind ?? 'INTERNAL', r.reason ?? 'DNS_SYNC_FAILED', r.message ?? 'dns sync failed');
    return { recordCount: r.recordCount ?? 0, added: r.added ?? 0, removed: r.removed ?? 0 };
  }

  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exited) return;
    child.handle.stdin?.end(); // dnsMain exits when its stdin closes
    const timer = setTimeout(() => child.handle.kill('SIGKILL'), 3000);
    await child.handle.exited;
    clearTimeout(timer);
    this.rl?.close();
  }

  private async start(address: string, port: number): Promise<{ address: string; port: number }> {
    await this.close();
    const cmd = responderCommand();
    const handle = await spawnProcess(
      this.opts.ipPath ?? 'ip',
      ['netns', 'exec', this.opts.netns, process.execPath, ...cmd.args, '--listen', `${address}:${port}`, '--zone', this.opts.zone, ...forwardArgs(this.opts.forward)],
      { stdin: 'pipe', stdout: 'pipe', maxStderr: 2000, env: cmd.env },
    );
    const child = { handle, exited: false };
    void handle.exited.then(({ code, signal }) => {
      child.exited = true;
      if (this.child === child) this.opts.log?.warn({ netns: this.opts.netns, code, signal, stderr: handle.stderrTail() }, 'dns responder exited');
    });
    this.child = child;
    if (handle.stdout === null) throw new Error('spawnProcess gave no stdout pipe');
    this.rl = createInterface({ input: handle.stdout });
    this.lines = this.rl[Symbol.asyncIterator]();
    const first = await this.next(15_000).catch((err: unknown) => {
      handle.kill('SIGKILL');
      throw new NetError('UNAVAILABLE', 'DNS_START_FAILED', `dns responder in netns ${this.opts.netns} did not start: ${String(err)} ${handle.stderrTail()}`.trim());
    });
    if (first.error) {
      this.child = undefined;
      throw new NetError(first.error.kind, first.error.reason, first.error.message);
    }
    if (!first.listening) throw new NetError('INTERNAL', 'DNS_START_FAILED', 'dns responder answered without listening');
    return first.listening;
  }

  private async ask(msg: unknown): Promise<Reply> {
    this.child?.handle.stdin?.write(`${JSON.stringify(msg)}\n`);
    return this.next(5000);
  }

  private async next(timeoutMs: number): Promise<Reply> {
    if (!this.lines) throw new Error('not started');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const r = await Promise.race([this.lines.next(), timeout]);
      if (r.done) throw new Error('the responder exited');
      return JSON.parse(r.value as string) as Reply;
    } finally {
      clearTimeout(timer);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function forwardArgs(f: NetnsDnsForward | undefined): string[] {
  if (f === undefined) return [];
  return ['--forward', `${f.upstream.host}:${f.upstream.port}`, '--clients', f.clients, '--ttl-min', String(f.ttlMin), '--ttl-max', String(f.ttlMax)];
}
