import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { lz4Block } from './lz4.js';
import { extractVmlinux, findPayload } from './vmlinux.js';

const fakeElf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(5000, 7), randomBytes(3000)]);

/** A minimal bzImage: boot header with HdrS, payload_offset/length, then the payload + size word. */
function fakeBzImage(payload: Buffer, uncompressedSize: number): Buffer {
  const setupSects = 4;
  const size = Buffer.alloc(4);
  size.writeUInt32LE(uncompressedSize);
  const body = Buffer.concat([Buffer.alloc(100, 0xcc), payload, size]);
  const hdr = Buffer.alloc((setupSects + 1) * 512);
  hdr[0x1f1] = setupSects;
  hdr.write('HdrS', 0x202, 'latin1');
  hdr.writeUInt32LE(100, 0x248);
  hdr.writeUInt32LE(payload.length + 4, 0x24c);
  return Buffer.concat([hdr, body, Buffer.alloc(64)]);
}

const hasLz4 = spawnSync('lz4', ['--version']).status === 0;
if (!hasLz4) console.warn('skipping lz4 CLI cross-check: lz4 not installed');

describe('extractVmlinux', () => {
  it('extracts a gzip payload located through the boot header', async () => {
    const bz = fakeBzImage(gzipSync(fakeElf), fakeElf.length);
    expect(findPayload(bz).kind).toBe('gzip');
    expect((await extractVmlinux(bz)).equals(fakeElf)).toBe(true);
  });

  it.skipIf(!hasLz4)('extracts an lz4 legacy payload (the Debian kernel format)', async () => {
    const lz = spawnSync('lz4', ['-l', '-c', '-q'], { input: fakeElf });
    const bz = fakeBzImage(lz.stdout, fakeElf.length);
    expect(findPayload(bz).kind).toBe('lz4');
    expect((await extractVmlinux(bz)).equals(fakeElf)).toBe(true);
  });

  it('rejects a payload that does not decompress to ELF', async () => {
    const notElf = Buffer.from('definitely not an elf file');
    await expect(extractVmlinux(fakeBzImage(gzipSync(notElf), notElf.length))).rejects.toMatchObject({ reason: 'BAD_KERNEL_IMAGE' });
  });

  it('rejects a file with no known payload', async () => {
    await expect(extractVmlinux(Buffer.alloc(4096, 1))).rejects.toMatchObject({ reason: 'BAD_KERNEL_IMAGE' });
  });
});

describe('lz4Block', () => {
  it('decodes literals and overlapping matches', () => {
    const src = Buffer.from([0x32, 0x61, 0x62, 0x63, 0x03, 0x00, 0x10, 0x21]);
    const out = Buffer.alloc(10);
    expect(lz4Block(src, 0, src.length, out, 0)).toBe(10);
    expect(out.toString('latin1')).toBe('abcabcabc!');
  });

  it('rejects an offset pointing before the output', () => {
    const src = Buffer.from([0x10, 0x61, 0x09, 0x00]);
    expect(() => lz4Block(src, 0, src.length, Buffer.alloc(16), 0)).toThrow(/bad match offset/);
  });
});
