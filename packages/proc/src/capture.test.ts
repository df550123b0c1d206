import { describe, expect, it } from 'vitest';
import { CappedBuffer, TailBuffer } from './capture.js';

describe('TailBuffer', () => {
  it('keeps the last bytes only', () => {
    const t = new TailBuffer(5);
    for (const s of ['abc', 'defg', 'hij']) t.push(Buffer.from(s));
    expect(t.toString()).toBe('fghij');
    t.push(Buffer.from('x'.repeat(100)));
    expect(t.toString()).toBe('xxxxx');
  });
});

describe('CappedBuffer', () => {
  it('refuses the chunk that passes the cap and keeps what came before', () => {
    const c = new CappedBuffer(6);
    expect(c.push(Buffer.from('abc'))).toBe(true);
    expect(c.push(Buffer.from('def'))).toBe(true);
    expect(c.push(Buffer.from('g'))).toBe(false);
    expect(c.value().toString()).toBe('abcdef');
  });
});
