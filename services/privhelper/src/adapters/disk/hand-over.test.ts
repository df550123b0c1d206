import { lstat, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { handOver } from './hand-over.js';

const asRoot = process.getuid?.() === 0;

describe.skipIf(!asRoot)('handOver (needs root to chown)', () => {
  let dir = '';
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("gives an image directory and its files to an unprivileged caller, without following symlinks", async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-handover-'));
    const img = join(dir, 'img');
    await mkdir(join(img, 'sub'), { recursive: true });
    await writeFile(join(img, 'rootfs.ext4'), 'x');
    await writeFile(join(img, 'sub', 'meta.json'), '{}');
    await symlink('/etc/passwd', join(img, 'link'));
    expect(await handOver(img, { pid: 1, uid: 65534, gid: 65534 })).toBe(true);
    for (const p of [img, join(img, 'rootfs.ext4'), join(img, 'sub'), join(img, 'sub', 'meta.json'), join(img, 'link')]) {
      expect((await lstat(p)).uid).toBe(65534);
    }
    expect((await stat('/etc/passwd')).uid).toBe(0);
  });

  it('leaves the files root for root and for an unknown caller', async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-handover-'));
    await writeFile(join(dir, 'f'), 'x');
    expect(await handOver(dir, { pid: 1, uid: 0, gid: 0 })).toBe(false);
    expect(await handOver(dir, undefined)).toBe(false);
    expect((await stat(join(dir, 'f'))).uid).toBe(0);
  });
});
