import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Ipv4Cidr } from '../../domain/network/cidr.js';
import { cidrContains, parseIpv4 } from '../../domain/network/cidr.js';
import { boundTtl, learnFromResponse } from '../../domain/network/dnsForward.js';
import { answer, parseQuery } from '../../domain/network/dnsWire.js';
import type { DnsRecord } from '../../domain/network/dnsRecords.js';
import { validateRecords, validateZone } from '../../domain/network/dnsRecords.js';
import { invalidArg, NetError } from '../../domain/network/errors.js';
import { quietLogger } from './log.js';

export interface DnsServerOptions {
  /** Zone served, default "vm" (names are NAME.vm). */
  readonly zone?: string | undefined;
  /** TTL of answers and of negative answers (SOA minimum), seconds; default 5 so renamed VMs resolve quickly. */
  readonly ttl?: number | undefined;
  /** Names outside the zone are forwarded for these clients only (never an open resolver). */
  readonly forward?: DnsForwardOptions | undefined;
  readonly log?: Logger | undefined;
}

export interface DnsForwardOptions {
  readonly upstream: { readonly host: string; readonly port: number };
  /** Only queries from this network (the guests) are forwarded; everyone else gets REFUSED. */
  readonly clients: Ipv4Cidr;
  /** Bounds on how long a learned address stays allowed, seconds (default 30 and 3600). */
  readonly ttlMin?: number | undefined;
  readonly ttlMax?: number | undefined;
  readonly timeoutMs?: number | undefined;
  /** Opens a VM's learned addresses (its fence's hostname set) before the answer reaches it. */
  readonly learn: (entry: EgressEntry, addrs: readonly string[], ttlSeconds: number) => Promise<void>;
}

/** One VM's hostname policy as the forwarder needs it: its address, the names, and its nft set. */
export interface EgressEntry {
  readonly ip: string;
  readonly set: string;
  readonly hostnames: readonly string[];
}

/** Bound on queries in flight upstream, so a guest cannot exhaust the helper's sockets. */
const MAX_INFLIGHT = 256;

export interface SyncResult {
  readonly recordCount: number;
  readonly added: number;
  readonly removed: number;
}

/**
 * banger's own authoritative responder for `NAME.vm` (UDP). It holds an in-memory record set
 * that `syncRecords` swaps in one assignment, so a query never sees half an update; it answers
 * nothing outside its zone (REFUSED), so it can never be used as an open resolver.
 */
export class DnsServer {
  readonly zone: string;
  private readonly ttl: number;
  private readonly log: Logger;
  private records: ReadonlyMap<string, string> = new Map();
  private serial = 1;
  private socket: Socket | undefined;
  private egress: ReadonlyMap<string, EgressEntry> = new Map();
  private inflight = 0;

  constructor(private readonly opts: DnsServerOptions = {}) {
    this.zone = validateZone(opts.zone ?? 'vm');
    const ttl = opts.ttl ?? 5;
    if (!Number.isSafeInteger(ttl) || ttl < 0 || ttl > 86_400) throw invalidArg('ttl', 'OUT_OF_RANGE', 'must be 0-86400 seconds');
    this.ttl = ttl;
    this.log = opts.log ?? quietLogger();
  }

  /** Binds UDP HOST:PORT (port 0 = ephemeral) and returns the bound address. */
  async listen(host: string, port: number): Promise<{ address: string; port: number }> {
    if (isIP(host) !== 4) throw invalidArg('listen_address', 'BAD_IPV4', 'must be an IPv4 address');
    if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) throw invalidArg('listen_port', 'OUT_OF_RANGE', 'must be 0-65535');
    if (this.socket) throw new NetError('FAILED_PRECONDITION', 'DNS_ALREADY_LISTENING', 'dns server is already listening');
    const sock = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      const onErr = (err: NodeJS.ErrnoException) => reject(bindError(err, host, port));
      sock.once('error', onErr);
      sock.bind({ address: host, port, exclusive: true }, () => {
        sock.off('error', onErr);
        resolve();
      });
    });
    sock.on('error', (err) => this.log.warn({ err }, 'dns socket error'));
    sock.on('message', (msg, rinfo) => {
      if (this.forwards(msg, rinfo.address)) {
        void this.forward(sock, msg, rinfo.address, rinfo.port);
        return;
      }
      let out: Buffer | undefined;
      try {
        out = answer(msg, { zone: this.zone, ttl: this.ttl, serial: this.serial, lookup: (n) => this.records.get(n) });
      } catch (err) {
        this.log.warn({ err, peer: rinfo.address }, 'dns query not answered');
        return;
      }
      if (out) sock.send(out, rinfo.port, rinfo.address);
    });
    this.socket = sock;
    const a = sock.address();
    this.log.info({ address: a.address, port: a.port, zone: this.zone }, 'dns server listening');
    return { address: a.address, port: a.port };
  }

  /** Replaces the whole record set (validated first; on any bad record nothing changes). */
  syncRecords(records: readonly DnsRecord[]): SyncResult {
    const next = validateRecords(records);
    let added = 0;
    let removed = 0;
    for (const [k, v] of next) if (this.records.get(k) !== v) added++;
    for (const [k, v] of this.records) if (next.get(k) !== v) removed++;
    this.records = next;
    if (added + removed > 0) this.serial = (this.serial + 1) >>> 0 || 1;
    this.log.info({ records: next.size, added, removed }, 'dns records synced');
    return { recordCount: next.size, added, removed };
  }

  /** Replaces the hostname policies of all VMs (one assignment, like the records). */
  syncEgress(entries: readonly EgressEntry[]): number {
    this.egress = new Map(entries.map((e) => [e.ip, { ip: e.ip, set: e.set, hostnames: e.hostnames.map((h) => h.toLowerCase()) }]));
    return this.egress.size;
  }

  /** Forward: a query from a guest for a name outside the zone, when forwarding is configured. */
  private forwards(msg: Buffer, client: string): boolean {
    const f = this.opts.forward;
    if (f === undefined) return false;
    const p = parseQuery(msg);
    if (p.kind !== 'query') return false;
    if (p.q.labels.length > 0 && p.q.labels[p.q.labels.length - 1] === this.zone) return false;
    try {
      const addr = parseIpv4(client);
      // The gateway is the host itself, not a guest.
      return cidrContains(f.clients, addr) && addr !== f.clients.network + 1;
    } catch {
      return false;
    }
  }

  /**
   * Relays one query upstream on a socket of its own and the answer back unchanged; if the
   * asking VM's policy names the queried host, its addresses are opened first, so the guest's
   * first connection after the answer already passes.
   */
  private async forward(sock: Socket, msg: Buffer, client: string, port: number): Promise<void> {
    const f = this.opts.forward;
    if (f === undefined || this.inflight >= MAX_INFLIGHT) return;
    this.inflight++;
    const up = createSocket({ type: 'udp4' });
    try {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), f.timeoutMs ?? 3000);
        up.on('error', () => resolve(undefined));
        up.on('message', (m, r) => {
          if (r.address !== f.upstream.host || r.port !== f.upstream.port || m.length < 2 || m.readUInt16BE(0) !== msg.readUInt16BE(0)) return;
          clearTimeout(timer);
          resolve(m);
        });
        up.send(msg, f.upstream.port, f.upstream.host);
      });
      if (reply === undefined) return;
      const entry = this.egress.get(client);
      const learned = entry === undefined ? undefined : learnFromResponse(reply);
      if (entry !== undefined && learned !== undefined && entry.hostnames.includes(learned.name)) {
        const ttl = boundTtl(learned.ttl, f.ttlMin ?? 30, f.ttlMax ?? 3600);
        await f.learn(entry, learned.addrs, ttl).catch((err: unknown) => this.log.warn({ err, client, name: learned.name }, 'could not open learned addresses'));
        this.log.info({ client, name: learned.name, addrs: learned.addrs, ttl }, 'egress hostname resolved');
      }
      sock.send(reply, port, client);
    } finally {
      this.inflight--;
      up.close();
    }
  }

  lookup(name: string): string | undefined {
    return this.records.get(name);
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

function bindError(err: NodeJS.ErrnoException, host: string, port: number): NetError {
  const fields = { address: `${host}:${port}` };
  switch (err.code) {
    case 'EADDRINUSE':
      return new NetError('UNAVAILABLE', 'DNS_ADDRESS_IN_USE', `${host}:${port} is already in use`, fields, { cause: err });
    case 'EADDRNOTAVAIL':
      return new NetError('FAILED_PRECONDITION', 'DNS_ADDRESS_NOT_LOCAL', `${host} is not an address of this host (is the bridge up?)`, fields, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new NetError('PERMISSION_DENIED', 'DNS_BIND_DENIED', `not allowed to bind ${host}:${port}`, fields, { cause: err });
    default:
      return new NetError('INTERNAL', 'DNS_BIND_FAILED', `cannot bind ${host}:${port}`, fields, { cause: err });
  }
}
