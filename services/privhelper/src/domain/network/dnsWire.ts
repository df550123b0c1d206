/**
 * The DNS wire format, just enough for an authoritative `.vm` responder (RFC 1035). Pure:
 * bytes in, bytes out, so every corner is unit-testable without sockets.
 */

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const QTYPE = { A: 1, NS: 2, SOA: 6, AAAA: 28, ANY: 255 } as const;
const CLASS_IN = 1;
const CLASS_ANY = 255;
const HEADER = 12;

export interface Question {
  readonly id: number;
  readonly rd: boolean;
  /** Lower-cased labels, for matching. */
  readonly labels: readonly string[];
  readonly qtype: number;
  readonly qclass: number;
  /** The question section exactly as received (case preserved for 0x20 clients). */
  readonly raw: Buffer;
}

export type Parsed =
  | { readonly kind: 'query'; readonly q: Question }
  | { readonly kind: 'error'; readonly id: number; readonly rd: boolean; readonly rcode: number }
  | { readonly kind: 'drop' };

export function parseQuery(buf: Buffer): Parsed {
  if (buf.length < HEADER) return { kind: 'drop' };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return { kind: 'drop' };
  const rd = (flags & 0x0100) !== 0;
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { kind: 'error', id, rd, rcode: RCODE.NOTIMP };
  if (buf.readUInt16BE(4) !== 1) return { kind: 'error', id, rd, rcode: RCODE.FORMERR };
  const labels: string[] = [];
  let off = HEADER;
  let total = 0;
  for (;;) {
    const len = buf[off];
    if (len === undefined || len > 63) return { kind: 'error', id, rd, rcode: RCODE.FORMERR };
    off += 1;
    if (len === 0) break;
    total += len + 1;
    if (total > 254 || off + len > buf.length) return { kind: 'error', id, rd, rcode: RCODE.FORMERR };
    labels.push(buf.toString('latin1', off, off + len).toLowerCase());
    off += len;
  }
  if (off + 4 > buf.length) return { kind: 'error', id, rd, rcode: RCODE.FORMERR };
  const qtype = buf.readUInt16BE(off);
  const qclass = buf.readUInt16BE(off + 2);
  return { kind: 'query', q: { id, rd, labels, qtype, qclass, raw: Buffer.from(buf.subarray(HEADER, off + 4)) } };
}

function encodeName(labels: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function rr(name: Buffer, type: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(CLASS_IN, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([name, fixed, rdata]);
}

/** Pointer to the question name at offset 12, which every answer for the queried name reuses. */
const QNAME_PTR = Buffer.from([0xc0, 0x0c]);

function soa(zone: string, ttl: number, serial: number): Buffer {
  const times = Buffer.alloc(20);
  times.writeUInt32BE(serial >>> 0, 0);
  times.writeUInt32BE(3600, 4);
  times.writeUInt32BE(600, 8);
  times.writeUInt32BE(86400, 12);
  times.writeUInt32BE(ttl, 16);
  const rdata = Buffer.concat([encodeName(['ns', zone]), encodeName(['hostmaster', zone]), times]);
  return rr(encodeName([zone]), QTYPE.SOA, ttl, rdata);
}

function message(id: number, rd: boolean, aa: boolean, rcode: number, question: Buffer | undefined, an: Buffer[], ns: Buffer[]): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x8000 | (aa ? 0x0400 : 0) | (rd ? 0x0100 : 0) | rcode, 2);
  h.writeUInt16BE(question ? 1 : 0, 4);
  h.writeUInt16BE(an.length, 6);
  h.writeUInt16BE(ns.length, 8);
  h.writeUInt16BE(0, 10);
  return Buffer.concat([h, ...(question ? [question] : []), ...an, ...ns]);
}

export interface ZoneView {
  readonly zone: string;
  readonly ttl: number;
  readonly serial: number;
  lookup(name: string): string | undefined;
}

/**
 * The whole responder policy: A for known NAME.zone, NODATA for other types, NXDOMAIN with the
 * zone's SOA for unknown names, REFUSED outside the zone (we are no recursive resolver), and
 * nothing at all for responses or runt packets so we can never be made to loop.
 */
export function answer(buf: Buffer, z: ZoneView): Buffer | undefined {
  const p = parseQuery(buf);
  if (p.kind === 'drop') return undefined;
  if (p.kind === 'error') return message(p.id, p.rd, false, p.rcode, undefined, [], []);
  const { q } = p;
  const inZone = q.labels.length >= 1 && q.labels[q.labels.length - 1] === z.zone;
  if (!inZone || (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY)) return message(q.id, q.rd, false, RCODE.REFUSED, q.raw, [], []);
  const auth = [soa(z.zone, z.ttl, z.serial)];
  if (q.labels.length === 1) {
    if (q.qtype === QTYPE.SOA || q.qtype === QTYPE.ANY) return message(q.id, q.rd, true, RCODE.NOERROR, q.raw, auth, []);
    return message(q.id, q.rd, true, RCODE.NOERROR, q.raw, [], auth);
  }
  const addr = q.labels.length === 2 ? z.lookup(q.labels[0] ?? '') : undefined;
  if (addr === undefined) return message(q.id, q.rd, true, RCODE.NXDOMAIN, q.raw, [], auth);
  if (q.qtype !== QTYPE.A && q.qtype !== QTYPE.ANY) return message(q.id, q.rd, true, RCODE.NOERROR, q.raw, [], auth);
  const rdata = Buffer.from(addr.split('.').map(Number));
  return message(q.id, q.rd, true, RCODE.NOERROR, q.raw, [rr(QNAME_PTR, QTYPE.A, z.ttl, rdata)], []);
}

/** Builds a query (for tests and the health probe). */
export function buildQuery(id: number, name: string, qtype: number): Buffer {
  const labels = name.split('.').filter((l) => l.length > 0);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(qtype, 0);
  tail.writeUInt16BE(CLASS_IN, 2);
  const h = Buffer.alloc(HEADER);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2);
  h.writeUInt16BE(1, 4);
  return Buffer.concat([h, encodeName(labels), tail]);
}

export interface DecodedResponse {
  readonly id: number;
  readonly rcode: number;
  readonly aa: boolean;
  readonly answers: readonly { type: number; ttl: number; data: string }[];
  readonly authorityCount: number;
}

function skipName(buf: Buffer, off: number): number {
  for (;;) {
    const len = buf[off];
    if (len === undefined) throw new RangeError('truncated name');
    if ((len & 0xc0) === 0xc0) return off + 2;
    if (len === 0) return off + 1;
    off += len + 1;
  }
}

/** Decodes the parts of a response banger's tests and probes look at. Throws RangeError on garbage. */
export function decodeResponse(buf: Buffer): DecodedResponse {
  if (buf.length < HEADER) throw new RangeError('short response');
  const flags = buf.readUInt16BE(2);
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  let off = HEADER;
  for (let i = 0; i < qd; i++) off = skipName(buf, off) + 4;
  const answers: { type: number; ttl: number; data: string }[] = [];
  for (let i = 0; i < an; i++) {
    off = skipName(buf, off);
    const type = buf.readUInt16BE(off);
    const ttl = buf.readUInt32BE(off + 4);
    const len = buf.readUInt16BE(off + 8);
    const rdata = buf.subarray(off + 10, off + 10 + len);
    answers.push({ type, ttl, data: type === QTYPE.A ? Array.from(rdata).join('.') : rdata.toString('hex') });
    off += 10 + len;
  }
  return { id: buf.readUInt16BE(0), rcode: flags & 0xf, aa: (flags & 0x0400) !== 0, answers, authorityCount: buf.readUInt16BE(8) };
}
