import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bangerLayout, unsafeComponent } from '@banger/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bangerAccount } from '../harness/accounts.js';
import { REPO_ROOT } from '../harness/daemons.js';

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'clients', 'cli', 'bin', 'banger.mjs'), ...args], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const skip = process.getuid?.() !== 0 ? 'needs root (chown to the banger account)' : undefined;
if (skip) console.warn(`skipping system upgrade test: ${skip}`);

describe.skipIf(skip !== undefined)('banger system upgrade --root: an older layout converted, nothing trusted as it was', () => {
  let root: string;
  const img = 'debian-bookworm-0123456789abcdef';
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'banger-upgrade-'));
    const install = await cli(['system', 'install', '--root', root, '--json']);
    expect(install.code, install.stderr).toBe(0);
    // Rewind to the older layout: banger owned the tops; images were handed to it; VM disks
    // were root's files in a banger-owned directory; caches were banger's.
    const { uid, gid } = bangerAccount();
    const state = join(root, 'var/lib/banger');
    await rm(join(state, 'helper'), { recursive: true, force: true });
    await rm(join(root, 'var/cache/banger/helper'), { recursive: true, force: true });
    for (const d of ['var/lib/banger', 'var/cache/banger', 'run/banger']) await chown(join(root, d), uid, gid);
    await mkdir(join(state, 'images', img), { recursive: true });
    execFileSync('truncate', ['-s', '64M', join(state, 'images', img, 'rootfs.ext4')]);
    await writeFile(join(state, 'images', img, 'work-seed.ext4'), 'seed');
    await writeFile(join(root, 'victim'), 'root secret');
    await symlink(join(root, 'victim'), join(state, 'images', img, 'image.json'));
    for (const p of [join(state, 'images'), join(state, 'images', img), join(state, 'images', img, 'rootfs.ext4'), join(state, 'images', img, 'work-seed.ext4')]) await chown(p, uid, gid);
    await mkdir(join(state, 'vms', 'vm-1'), { recursive: true });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-u', '-b', join('/var/lib/banger/images', img, 'rootfs.ext4'), '-F', 'raw', join(state, 'vms', 'vm-1', 'root.qcow2'), '64M']);
    execFileSync('truncate', ['-s', '16M', join(state, 'vms', 'vm-1', 'work.ext4')]);
    await mkdir(join(root, 'var/cache/banger/debootstrap'), { recursive: true });
    await writeFile(join(root, 'var/cache/banger/debootstrap/poisoned.tar'), 'x');
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('before: privhelper would refuse the tops (owned by banger)', () => {
    expect(unsafeComponent(join(root, 'var/lib/banger'))?.why).toMatch(/owned by uid/);
  });

  it('copies images into the root store, moves root-owned VM disks, drops untrusted caches', async () => {
    const r = await cli(['system', 'upgrade', '--root', root, '--json']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const layout = bangerLayout({ paths: { stateDir: join(root, 'var/lib/banger'), runDir: join(root, 'run/banger'), cacheDir: join(root, 'var/cache/banger') } });
    const rootfs = await lstat(join(layout.helper.imagesDir, img, 'rootfs.ext4'));
    expect(rootfs.uid).toBe(0);
    expect(rootfs.size).toBe(64 * 1024 * 1024);
    // A fresh inode: nothing the banger user held open is in root's store.
    expect(rootfs.blocks).toBeLessThan(1024);
    // The planted link was not followed into the store.
    expect(existsSync(join(layout.helper.imagesDir, img, 'image.json'))).toBe(false);
    const rec = JSON.parse(await readFile(join(layout.helper.vmsDir, 'vm-1', 'disks.json'), 'utf8')) as { root: { image: string }; work: { image: string } };
    expect(rec.root.image).toBe(img);
    expect((await lstat(join(layout.helper.vmsDir, 'vm-1', 'work.ext4'))).uid).toBe(0);
    for (const gone of ['var/lib/banger/images', 'var/lib/banger/vms', 'var/cache/banger/debootstrap']) expect(existsSync(join(root, gone)), gone).toBe(false);
    for (const top of ['var/lib/banger', 'var/cache/banger']) expect(unsafeComponent(join(root, top)), top).toBeUndefined();
    expect(unsafeComponent(join(root, 'run/banger'), { stickyAllowedAtLeaf: true })).toBeUndefined();
    expect(await readFile(join(root, 'victim'), 'utf8')).toBe('root secret');
    // Idempotent.
    const again = await cli(['system', 'upgrade', '--root', root, '--json']);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { actions: unknown[] }).actions).toEqual([]);
  });
});
