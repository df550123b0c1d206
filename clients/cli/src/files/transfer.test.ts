import { describe, expect, it } from 'vitest';
import { rechunk } from './transfer.js';

async function* pieces(sizes: number[]): AsyncGenerator<Buffer> {
  let n = 0;
  for (const size of sizes) yield Buffer.from(Array.from({ length: size }, () => n++ % 256));
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of source) out.push(b);
  return out;
}

describe('rechunk', () => {
  it('gathers 64 KiB pipe reads into 1 MiB messages and keeps every byte in order', async () => {
    const sizes: number[] = [...Array.from({ length: 40 }, () => 64 * 1024), 3 * 1024 * 1024 + 5, 7];
    const total = sizes.reduce((a, b) => a + b, 0);
    const out = await collect(rechunk(pieces(sizes)));
    expect(out.slice(0, -1).every((b) => b.length === 1 << 20)).toBe(true);
    expect(out.at(-1)?.length).toBe(total % (1 << 20));
    expect(Buffer.concat(out).equals(Buffer.concat(await collect(pieces(sizes))))).toBe(true);
  });

  it('passes a small stream through as one message, and an empty one as none', async () => {
    expect((await collect(rechunk(pieces([10, 20])))).map((b) => b.length)).toEqual([30]);
    expect(await collect(rechunk(pieces([])))).toEqual([]);
  });
});
