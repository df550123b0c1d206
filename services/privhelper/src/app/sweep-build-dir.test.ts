import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { sweepBuildDir } from './sweep-build-dir.js';

describe('sweepBuildDir (privhelper start-up)', () => {
  let dir = '';
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('removes what builds of a dead privhelper left, and only inside the build root', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ph-build-'));
    const root = path.join(dir, 'build');
    await mkdir(path.join(root, 'debian-bookworm-abc123', 'rootfs'), { recursive: true });
    await writeFile(path.join(root, 'debian-bookworm-abc123', 'rootfs.ext4.partial'), 'half');
    await mkdir(path.join(root, 'promoted-x-def456'));
    await writeFile(path.join(dir, 'neighbour'), 'keep');
    expect((await sweepBuildDir(root, pino({ level: 'silent' }), async () => [])).sort()).toEqual(['debian-bookworm-abc123', 'promoted-x-def456']);
    expect(await readdir(root)).toEqual([]);
    expect(await readdir(dir)).toEqual(['build', 'neighbour'].sort());
    expect(await sweepBuildDir(path.join(dir, 'missing'), pino({ level: 'silent' }), async () => [])).toEqual([]);
  });

  it('first stops what still works in the build root, before removing anything', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ph-build-'));
    const root = path.join(dir, 'build');
    await mkdir(path.join(root, 'debian-bookworm-abc123'), { recursive: true });
    const seen: string[][] = [];
    const killUsers = async (d: string): Promise<number[]> => {
      seen.push([d, ...(await readdir(root))]);
      return [4242];
    };
    expect(await sweepBuildDir(root, pino({ level: 'silent' }), killUsers)).toEqual(['debian-bookworm-abc123']);
    expect(seen).toEqual([[root, 'debian-bookworm-abc123']]);
  });
});
