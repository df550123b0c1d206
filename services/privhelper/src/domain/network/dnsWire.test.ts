import { describe, expect, it } from 'vitest';
import { answer, buildQuery, decodeResponse, parseQuery, QTYPE, RCODE } from './dnsWire.js';
import type { ZoneView } from './dnsWire.js';

const zone: ZoneView = { zone: 'vm', ttl: 5, serial: 7, lookup: (n) => (n === 'web' ? '172.30.0.9' : undefined) };

function ask(name: string, qtype: number = QTYPE.A) {
  const out = answer(buildQuery(0x1234, name, qtype), zone);
  if (!out) throw new Error('no answer');
  return decodeResponse(out);
}

describe('answer', () => {
  it('answers A for a known name, case-insensitively', () => {
    const r = ask('web.vm');
    expect(r).toMatchObject({ id: 0x1234, rcode: RCODE.NOERROR, aa: true });
    expect(r.answers).toEqual([{ type: QTYPE.A, ttl: 5, data: '172.30.0.9' }]);
    expect(ask('WeB.Vm.').answers[0]?.data).toBe('172.30.0.9');
  });
  it('NXDOMAIN with the SOA for unknown names in the zone', () => {
    for (const n of ['nope.vm', 'a.web.vm']) {
      const r = ask(n);
      expect(r.rcode).toBe(RCODE.NXDOMAIN);
      expect(r.answers).toEqual([]);
      expect(r.authorityCount).toBe(1);
    }
  });
  it('NODATA for other types of a known name', () => {
    const r = ask('web.vm', QTYPE.AAAA);
    expect(r.rcode).toBe(RCODE.NOERROR);
    expect(r.answers).toEqual([]);
    expect(r.authorityCount).toBe(1);
  });
  it('SOA at the apex', () => {
    expect(ask('vm', QTYPE.SOA).answers[0]?.type).toBe(QTYPE.SOA);
    expect(ask('vm', QTYPE.A).answers).toEqual([]);
  });
  it('REFUSED outside the zone', () => {
    expect(ask('example.com').rcode).toBe(RCODE.REFUSED);
    expect(ask('vm.example').rcode).toBe(RCODE.REFUSED);
    expect(ask('').rcode).toBe(RCODE.REFUSED);
  });
  it('drops responses and runts, FORMERR on malformed questions, NOTIMP on other opcodes', () => {
    const q = buildQuery(1, 'web.vm', QTYPE.A);
    const resp = Buffer.from(q);
    resp.writeUInt16BE(0x8000, 2);
    expect(answer(resp, zone)).toBeUndefined();
    expect(answer(Buffer.alloc(5), zone)).toBeUndefined();
    expect(decodeResponse(answer(q.subarray(0, q.length - 2), zone) ?? Buffer.alloc(0)).rcode).toBe(RCODE.FORMERR);
    const ptr = Buffer.concat([q.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    expect(decodeResponse(answer(ptr, zone) ?? Buffer.alloc(0)).rcode).toBe(RCODE.FORMERR);
    const two = Buffer.from(q);
    two.writeUInt16BE(2, 4);
    expect(decodeResponse(answer(two, zone) ?? Buffer.alloc(0)).rcode).toBe(RCODE.FORMERR);
    const upd = Buffer.from(q);
    upd.writeUInt16BE(5 << 11, 2);
    expect(decodeResponse(answer(upd, zone) ?? Buffer.alloc(0)).rcode).toBe(RCODE.NOTIMP);
  });
  it('never throws on random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(Math.random() * 80);
      const b = Buffer.from(Array.from({ length: len }, () => Math.floor(Math.random() * 256)));
      if (i % 2 === 0 && len > 12) b.writeUInt16BE(1, 4);
      expect(() => answer(b, zone)).not.toThrow();
    }
  });
  it('keeps the question as asked (0x20 clients)', () => {
    const p = parseQuery(buildQuery(9, 'WeB.vm', QTYPE.A));
    expect(p.kind === 'query' && p.q.raw.toString('latin1').includes('WeB')).toBe(true);
  });
});
