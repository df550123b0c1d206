import { describe, expect, it } from 'vitest';
import { boundTtl, learnFromResponse } from './dnsForward.js';

function name(n: string): Buffer {
  return Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

function rr(owner: Buffer, type: number, ttl: number, data: Buffer): Buffer {
  const h = Buffer.alloc(10);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(1, 2);
  h.writeUInt32BE(ttl, 4);
  h.writeUInt16BE(data.length, 8);
  return Buffer.concat([owner, h, data]);
}

function response(q: string, answers: Buffer[], rcode = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x1234, 0);
  h.writeUInt16BE(0x8180 | rcode, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(answers.length, 6);
  return Buffer.concat([h, name(q), Buffer.from([0, 1, 0, 1]), ...answers]);
}

const ptrToQ = Buffer.from([0xc0, 12]);
const ip = (s: string) => Buffer.from(s.split('.').map(Number));

describe('learnFromResponse', () => {
  it('follows a CNAME chain to its addresses, with the smallest TTL', () => {
    const buf = response('API.example.com', [rr(ptrToQ, 5, 300, name('edge.cdn.net')), rr(name('edge.cdn.net'), 5, 60, name('x.cdn.net')), rr(name('x.cdn.net'), 1, 120, ip('198.51.100.7')), rr(name('x.cdn.net'), 1, 90, ip('198.51.100.8'))]);
    expect(learnFromResponse(buf)).toEqual({ name: 'api.example.com', addrs: ['198.51.100.7', '198.51.100.8'], ttl: 60 });
  });
  it('ignores addresses for other names (an answer cannot open what was not asked)', () => {
    const buf = response('api.example.com', [rr(name('evil.example.org'), 1, 60, ip('10.0.0.1')), rr(ptrToQ, 1, 60, ip('198.51.100.9'))]);
    expect(learnFromResponse(buf)?.addrs).toEqual(['198.51.100.9']);
  });
  it('gives nothing for errors, queries, loops and garbage', () => {
    expect(learnFromResponse(response('a.com', [rr(ptrToQ, 1, 60, ip('1.2.3.4'))], 3))).toBeUndefined();
    const query = response('a.com', [rr(ptrToQ, 1, 60, ip('1.2.3.4'))]);
    query.writeUInt16BE(0x0100, 2);
    expect(learnFromResponse(query)).toBeUndefined();
    expect(learnFromResponse(response('a.com', [rr(ptrToQ, 5, 60, ptrToQ)]))).toBeUndefined();
    expect(learnFromResponse(Buffer.from([1, 2, 3]))).toBeUndefined();
    const loop = response('a.com', []);
    loop.writeUInt16BE(1, 6);
    expect(learnFromResponse(Buffer.concat([loop, Buffer.from([0xc0, loop.length])]))).toBeUndefined();
  });
  it('bounds the TTL', () => {
    expect(boundTtl(0, 30, 3600)).toBe(30);
    expect(boundTtl(86_400, 30, 3600)).toBe(3600);
    expect(boundTtl(120.7, 30, 3600)).toBe(120);
  });
});
