import { appendFile, mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileConsoleLogs } from './console-logs.js';

/** Rotates like the jailer: PATH becomes PATH.1 (replacing it), a fresh PATH is created. */
async function rotate(path: string, fresh = ''): Promise<void> {
  await rename(path, `${path}.1`);
  await writeFile(path, fresh);
}

describe('FileConsoleLogs', () => {
  let dir = '';
  let log = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'console-'));
    log = join(dir, 'console.log');
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));
  const logs = new FileConsoleLogs();

  it('reads new bytes by offset, at most maxBytes a time', async () => {
    await writeFile(log, 'old\n');
    const c = await logs.open(log);
    expect((await c.next(100)).length).toBe(0);
    await appendFile(log, 'a'.repeat(1000));
    expect((await c.next(300)).toString()).toBe('a'.repeat(300));
    expect((await c.next(1000)).toString()).toBe('a'.repeat(700));
    expect((await c.next(1000)).length).toBe(0);
  });

  it('follows a rotation: the rest of the old file first, then the new one from its start', async () => {
    await writeFile(log, 'one\n');
    const c = await logs.open(log);
    await appendFile(log, 'two\n');
    await rotate(log, 'three\n');
    expect((await c.next(1000)).toString()).toBe('two\n');
    expect((await c.next(1000)).toString()).toBe('three\n');
    await appendFile(log, 'four\n');
    expect((await c.next(1000)).toString()).toBe('four\n');
  });

  it('after two rotations between reads, goes on with the current file', async () => {
    await writeFile(log, 'one\n');
    const c = await logs.open(log);
    await rotate(log, 'lost\n');
    await rotate(log, 'now\n');
    expect((await c.next(1000)).toString()).toBe('now\n');
  });

  it('restarts a file truncated in place, and picks up a log created after it was opened', async () => {
    const c0 = await logs.open(log);
    await writeFile(log, 'late\n');
    expect((await c0.next(1000)).toString()).toBe('late\n');
    await writeFile(log, 'x'.repeat(100));
    const c = await logs.open(log);
    await truncate(log, 0);
    await appendFile(log, 'fresh\n');
    expect((await c.next(1000)).toString()).toBe('fresh\n');
  });

  it('tails the end, continuing into the rotated file when the current one is short', async () => {
    await writeFile(log, 'a1\na2\n');
    await rotate(log, 'b1\n');
    const c = await logs.open(log);
    expect(await c.tail(1000)).toEqual({ data: Buffer.from('a1\na2\nb1\n'), cut: false });
    expect(await c.tail(5)).toEqual({ data: Buffer.from('2\nb1\n'), cut: true });
    expect(await c.tail(2)).toEqual({ data: Buffer.from('1\n'), cut: true });
  });
});
