/**
 * What banger's DNS forwarder learns from an upstream answer: the IPv4 addresses a queried
 * name resolves to, following CNAME chains inside the answer, and how long they may be kept.
 * Pure (bytes in, result out); garbage yields undefined, never a throw.
 */

const A = 1;
const CNAME = 5;
const HEADER = 12;
/** Bound on CNAME hops followed inside one answer (resolvers use about 8-16). */
const MAX_CHAIN = 16;

interface Rr {
  readonly owner: string;
  readonly type: number;
  readonly ttl: number;
  readonly data: Buffer;
  readonly dataOff: number;
}

/** A possibly compressed name at `off`: its dotted lower-case form and the offset after it. */
function readName(buf: Buffer, start: number): [string, number] {
  const labels: string[] = [];
  let off = start;
  let end = -1;
  for (let jumps = 0; jumps < 64; ) {
    const len = buf[off];
    if (len === undefined) throw new RangeError('truncated name');
    if ((len & 0xc0) === 0xc0) {
      const lo = buf[off + 1];
      if (lo === undefined) throw new RangeError('truncated pointer');
      if (end < 0) end = off + 2;
      off = ((len & 0x3f) << 8) | lo;
      jumps++;
      continue;
    }
    if (len === 0) return [labels.join('.').toLowerCase(), end < 0 ? off + 1 : end];
    if (len > 63 || off + 1 + len > buf.length) throw new RangeError('bad label');
    labels.push(buf.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  throw new RangeError('compression loop');
}

function answers(buf: Buffer): { qname: string; rrs: Rr[] } {
  if (buf.length < HEADER) throw new RangeError('short');
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  if (qd !== 1) throw new RangeError('expected one question');
  const [qname, afterQ] = readName(buf, HEADER);
  let off = afterQ + 4;
  const rrs: Rr[] = [];
  for (let i = 0; i < an; i++) {
    const [owner, o] = readName(buf, off);
    if (o + 10 > buf.length) throw new RangeError('truncated rr');
    const type = buf.readUInt16BE(o);
    const ttl = buf.readUInt32BE(o + 4);
    const len = buf.readUInt16BE(o + 8);
    if (o + 10 + len > buf.length) throw new RangeError('truncated rdata');
    rrs.push({ owner, type, ttl, data: buf.subarray(o + 10, o + 10 + len), dataOff: o + 10 });
    off = o + 10 + len;
  }
  return { qname, rrs };
}

export interface Learned {
  /** The question's name (lower case, no trailing dot). */
  readonly name: string;
  readonly addrs: readonly string[];
  /** Smallest TTL along the chain, seconds. */
  readonly ttl: number;
}

/** The A addresses for the question's name in a NOERROR response, through CNAMEs; undefined when there are none or the bytes are not a response. */
export function learnFromResponse(buf: Buffer): Learned | undefined {
  try {
    if ((buf.readUInt16BE(2) & 0x800f) !== 0x8000) return undefined;
    const { qname, rrs } = answers(buf);
    const chain = new Set([qname]);
    let ttl = Number.POSITIVE_INFINITY;
    for (let hop = 0; hop < MAX_CHAIN; hop++) {
      const next = rrs.find((r) => r.type === CNAME && chain.has(r.owner) && !chain.has(readName(buf, r.dataOff)[0]));
      if (next === undefined) break;
      chain.add(readName(buf, next.dataOff)[0]);
      ttl = Math.min(ttl, next.ttl);
    }
    const addrs = rrs.filter((r) => r.type === A && r.data.length === 4 && chain.has(r.owner));
    if (addrs.length === 0) return undefined;
    for (const r of addrs) ttl = Math.min(ttl, r.ttl);
    return { name: qname, addrs: [...new Set(addrs.map((r) => Array.from(r.data).join('.')))], ttl };
  } catch {
    return undefined;
  }
}

/** Keeps a learned address long enough to connect, never so long a moved name stays open. */
export function boundTtl(ttl: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.floor(ttl)));
}
