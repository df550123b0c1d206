import { closeSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFdRange, copyFdRangeAsync } from './index.js';
import { leakedSince, openFds } from './test-support/fds.js';

const GiB = 1 << 30;
const MiB = 1 << 20;
const DATA_AT = 512 * MiB;
const TAIL_AT = GiB - 4096;

let dir: string;
let src: string;
const data = randomBytes(MiB);
const tail = randomBytes(4096);

function readAt(fd: number, off: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  readSync(fd, buf, 0, len, off);
  return buf;
}

/** A destination holding old bytes everywhere the source has holes, so leaks through show. */
function dirtyDestination(name: string): number {
  const fd = openSync(join(dir, name), 'w+');
  writeSync(fd, Buffer.alloc(4 * MiB, 0xaa), 0, 4 * MiB, 0);
  return fd;
}

function expectFaithfulSparseCopy(out: number): void {
  const st = fstatSync(out);
  expect(st.size).toBe(GiB);
  // 1 MiB + 4 KiB of data: allocation stays near that, nowhere near 1 GiB.
  expect(st.blocks * 512).toBeLessThan(8 * MiB);
  expect(readAt(out, DATA_AT, MiB).equals(data)).toBe(true);
  expect(readAt(out, TAIL_AT, 4096).equals(tail)).toBe(true);
  expect(readAt(out, 0, 4 * MiB).equals(Buffer.alloc(4 * MiB))).toBe(true);
  expect(readAt(out, DATA_AT - 4096, 4096).equals(Buffer.alloc(4096))).toBe(true);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'banger-sys-copy-'));
  src = join(dir, 'disk.img');
  const fd = openSync(src, 'w');
  ftruncateSync(fd, GiB);
  writeSync(fd, data, 0, data.length, DATA_AT);
  writeSync(fd, tail, 0, tail.length, TAIL_AT);
  closeSync(fd);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('copyFdRange', () => {
  it('copies a 1 GiB sparse file keeping its holes, and says how', () => {
    const before = openFds();
    const input = openSync(src, 'r');
    readSync(input, Buffer.alloc(10), 0, 10, null);
    const out = dirtyDestination('sync.img');
    const r = copyFdRange(input, out);
    console.info(`copyFdRange: ${JSON.stringify(r)}, ${fstatSync(out).blocks * 512} bytes allocated`);
    expect(r.bytes).toBe(GiB);
    expect(['copy', 'reflink']).toContain(r.method);
    if (r.method === 'copy') expect(r.dataBytes).toBeLessThan(8 * MiB);
    expectFaithfulSparseCopy(out);
    // The SEEK_DATA/SEEK_HOLE walk put the input's offset back where the caller left it.
    expect(/pos:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${input}`, 'utf8'))![1]).toBe('10');
    closeSync(input);
    closeSync(out);
    expect(leakedSince(before)).toEqual([]);
  });

  it('copyFdRangeAsync makes the same copy on a worker thread', async () => {
    const input = openSync(src, 'r');
    const out = dirtyDestination('async.img');
    const pending = copyFdRangeAsync(input, out);
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toMatchObject({ bytes: GiB });
    expectFaithfulSparseCopy(out);
    closeSync(input);
    closeSync(out);
  });

  it('refuses what would destroy data or cannot be copied', async () => {
    const a = openSync(src, 'r');
    const same = openSync(src, 'r+');
    expect(() => copyFdRange(a, same)).toThrow(expect.objectContaining({ errnoCode: 'EINVAL', reason: 'INVALID_SYSCALL_ARGUMENT' }));
    expect(fstatSync(a).size).toBe(GiB);
    const appendOnly = openSync(join(dir, 'append.img'), 'a');
    expect(() => copyFdRange(a, appendOnly)).toThrow(expect.objectContaining({ errnoCode: 'EINVAL' }));
    const dev = openSync('/dev/null', 'r');
    expect(() => copyFdRange(dev, appendOnly)).toThrow(expect.objectContaining({ errnoCode: 'EINVAL' }));
    const readOnly = openSync(join(dir, 'append.img'), 'r');
    await expect(copyFdRangeAsync(a, readOnly)).rejects.toMatchObject({ errnoCode: 'EBADF' });
    for (const fd of [a, same, appendOnly, dev, readOnly]) closeSync(fd);
  });

  const reflinkDir = process.env['BANGER_TEST_REFLINK_DIR'];
  if (reflinkDir === undefined) console.warn('copyFdRange: reflink case skipped: set BANGER_TEST_REFLINK_DIR to a directory on btrfs or xfs');
  it.skipIf(reflinkDir === undefined)('reflinks where the filesystem can', () => {
    const a = join(reflinkDir!, `banger-reflink-${process.pid}-a`);
    const b = join(reflinkDir!, `banger-reflink-${process.pid}-b`);
    const fa = openSync(a, 'w+');
    writeSync(fa, data, 0, data.length, 0);
    const fb = openSync(b, 'w+');
    try {
      expect(copyFdRange(fa, fb)).toMatchObject({ method: 'reflink', bytes: MiB });
      expect(readAt(fb, 0, MiB).equals(data)).toBe(true);
    } finally {
      closeSync(fa);
      closeSync(fb);
      rmSync(a);
      rmSync(b);
    }
  });
});
