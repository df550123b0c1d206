import { execFileSync } from 'node:child_process';
import { chown, link, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { helperLayout, type HelperLayout } from '@banger/config';
import { KERNEL_FILES, MANIFEST } from '@banger/imagekit';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakeKernelSources, sha256, stageKernel } from '../../testing/store-fixtures.js';
import { refusal } from '../../testing/refusal.js';
import { KernelStore } from './kernel-store.js';

const asRoot = process.getuid?.() === 0;
if (!asRoot) console.warn('[skip] KernelStore tests: need root (they chown staged files to other uids)');

const NOBODY = 65534;
const onlyRoot = (uid: number): boolean => uid === 0;

describe.skipIf(!asRoot)('KernelStore (real files under a temp layout)', () => {
  let tmp = '';
  let layout: HelperLayout;
  let staging = '';
  let store: KernelStore;
  let n = 0;
  const ref = (): { name: string; version: string } => ({ name: 'test-kernel', version: `1.${++n}-test` });

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'banger-kstore-'));
    layout = helperLayout({ paths: { stateDir: path.join(tmp, 'state'), cacheDir: path.join(tmp, 'cache'), runDir: path.join(tmp, 'run') } });
    staging = path.join(tmp, 'state', 'kernels');
    await mkdir(layout.kernelsDir, { recursive: true, mode: 0o750 });
    await mkdir(staging, { recursive: true });
    store = new KernelStore(layout, staging, 0, pino({ level: 'silent' }));
  });
  afterAll(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  /** After a refusal: no kernel directory and no leftover install directory in the store. */
  let storeBefore: string[] = [];
  beforeEach(async () => {
    storeBefore = await readdir(layout.kernelsDir, { recursive: true });
  });
  const storeUnchanged = async (): Promise<void> => {
    expect(await readdir(layout.kernelsDir, { recursive: true })).toEqual(storeBefore);
  };

  it('paths() answers NOT_FOUND KERNEL_NOT_INSTALLED for a kernel that was never installed', async () => {
    const e = await refusal(store.paths({ name: 'test-kernel', version: '9.9' }));
    expect(e).toMatchObject({ code: 'NOT_FOUND', reason: 'KERNEL_NOT_INSTALLED', fields: { field: 'kernel' } });
  });

  it('install copies every artifact into the store, verified, root-owned, not linked to the staged files; again is a no-op', async () => {
    const r = ref();
    const src = fakeKernelSources('good');
    const dir = await stageKernel(staging, r, src, { release: '6.1.0-99-test-amd64' });
    const res = await store.install(r, onlyRoot);
    expect(res.installed).toBe(true);
    expect(res.kernel).toMatchObject({ ref: r, release: '6.1.0-99-test-amd64', vmlinuxSha256: sha256(src.vmlinux as Buffer), initrdSha256: sha256(src.initrd as Buffer) });
    const installed = store.dirOf(r);
    expect(installed).toBe(path.join(layout.kernelsDir, r.name, r.version));
    for (const [artifact, file] of Object.entries(KERNEL_FILES)) {
      const copy = await stat(path.join(installed, file));
      const staged = await stat(path.join(dir, file));
      expect(await readFile(path.join(installed, file))).toEqual(src[artifact as keyof typeof src]);
      expect(copy.ino).not.toBe(staged.ino);
      expect([copy.uid, copy.mode & 0o777, copy.nlink]).toEqual([0, 0o644, 1]);
    }
    expect((await stat(installed)).mode & 0o777).toBe(0o750);
    expect(JSON.parse(await readFile(path.join(installed, MANIFEST), 'utf8'))).toMatchObject({ name: r.name, packageVersion: r.version });
    const p = await store.paths(r);
    expect(p).toMatchObject({ vmlinux: path.join(installed, 'vmlinux'), initrd: path.join(installed, 'initrd.img') });
    expect((await store.list()).map((k) => k.ref)).toContainEqual(r);

    // Changing the staged copy afterwards changes nothing in the store.
    await writeFile(path.join(dir, 'vmlinux'), 'changed after install');
    expect(await store.install(r, onlyRoot)).toMatchObject({ installed: false });
    expect(await readFile(path.join(installed, 'vmlinux'))).toEqual(src.vmlinux);
    expect(await store.remove(r)).toBe(true);
    expect(await store.remove(r)).toBe(false);
  });

  it('refuses a manifest whose artifact file is a path, before reading any artifact', async () => {
    const r = ref();
    await stageKernel(staging, r, fakeKernelSources(), {
      editManifest: (m) => {
        (m['artifacts'] as Record<string, { file: string }>)['vmlinux']!.file = '../../../../etc/shadow';
      },
    });
    const e = await refusal(store.install(r, onlyRoot));
    expect(e).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'KERNEL_MANIFEST_INVALID', fields: { field: 'artifacts.vmlinux.file' } });
    expect(e.message).not.toMatch(/[0-9a-f]{64}/);
    await storeUnchanged();
  });

  it('refuses a manifest that describes another kernel than the directory it sits in', async () => {
    const r = ref();
    await stageKernel(staging, r, fakeKernelSources(), { editManifest: (m) => void (m['packageVersion'] = '0.0-other') });
    expect(await refusal(store.install(r, onlyRoot))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'KERNEL_MANIFEST_INVALID', fields: { field: 'kernel' } });
    await storeUnchanged();
  });

  it('refuses a symlinked artifact, even one pointing at identical bytes', async () => {
    const r = ref();
    const src = fakeKernelSources('link');
    const dir = await stageKernel(staging, r, src);
    const elsewhere = path.join(tmp, 'elsewhere-initrd');
    await writeFile(elsewhere, src.initrd);
    await rm(path.join(dir, 'initrd.img'));
    await symlink(elsewhere, path.join(dir, 'initrd.img'));
    expect(await refusal(store.install(r, onlyRoot))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'SYMLINK_REFUSED' });
    await storeUnchanged();
  });

  it('refuses a staged version directory that is a symlink', async () => {
    const r = ref();
    const real = await stageKernel(path.join(tmp, 'other-staging'), r, fakeKernelSources('dirlink'));
    await mkdir(path.join(staging, r.name), { recursive: true });
    await symlink(real, path.join(staging, r.name, r.version));
    expect(await refusal(store.install(r, onlyRoot))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'SYMLINK_REFUSED' });
    await storeUnchanged();
  });

  it('refuses a hard-linked artifact (another name could still change the inode)', async () => {
    const r = ref();
    const dir = await stageKernel(staging, r, fakeKernelSources('hard'));
    await link(path.join(dir, 'config'), path.join(tmp, `config-link-${r.version}`));
    const e = await refusal(store.install(r, onlyRoot));
    expect(e).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'UNSAFE_LINK' });
    expect(e.message).toMatch(/config has 2 hard links/);
    await storeUnchanged();
  });

  it("refuses an artifact owned by a uid that is neither the caller nor root, and accepts the caller's own", async () => {
    const r = ref();
    const dir = await stageKernel(staging, r, fakeKernelSources('owner'));
    await chown(path.join(dir, 'vmlinuz'), NOBODY, NOBODY);
    const e = await refusal(store.install(r, onlyRoot));
    expect(e).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'UNSAFE_OWNER' });
    expect(e.message).toMatch(new RegExp(`owned by uid ${NOBODY}`));
    await storeUnchanged();
    // The same files are fine when the caller is that uid (imaged installing what it pulled).
    expect(await store.install(r, (uid) => uid === NOBODY || uid === 0)).toMatchObject({ installed: true });
    expect((await stat(path.join(store.dirOf(r), 'vmlinuz'))).uid).toBe(0);
  });

  it('refuses an artifact whose size differs from the manifest', async () => {
    const r = ref();
    await stageKernel(staging, r, fakeKernelSources('size'), {
      editManifest: (m) => void ((m['artifacts'] as Record<string, { size: number }>)['initrd']!.size += 1),
    });
    expect(await refusal(store.install(r, onlyRoot))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'CHECKSUM_MISMATCH', fields: { artifact: 'initrd' } });
    await storeUnchanged();
  });

  it('refuses an artifact changed after its manifest was written (same size, other bytes)', async () => {
    const r = ref();
    const src = fakeKernelSources('tamper');
    const dir = await stageKernel(staging, r, src);
    const tampered = Buffer.from(src.vmlinux as Buffer);
    tampered[10] = tampered[10]! ^ 0xff;
    // Replaced by rename, as a caller swapping the file would do: the new inode has one link.
    await writeFile(path.join(dir, 'vmlinux.new'), tampered);
    await rename(path.join(dir, 'vmlinux.new'), path.join(dir, 'vmlinux'));
    expect(await refusal(store.install(r, onlyRoot))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'CHECKSUM_MISMATCH', fields: { artifact: 'vmlinux' } });
    await storeUnchanged();
  });

  it('refuses a FIFO as an artifact without blocking on it', async () => {
    const r = ref();
    const dir = await stageKernel(staging, r, fakeKernelSources('fifo'));
    await rm(path.join(dir, 'config'));
    execFileSync('mkfifo', [path.join(dir, 'config')]);
    const t0 = Date.now();
    expect(await refusal(store.install(r, onlyRoot))).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'NOT_A_REGULAR_FILE' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await lstat(path.join(dir, 'config'))).isFIFO()).toBe(true);
    await storeUnchanged();
  });

  it('a kernel that was never pulled is NOT_FOUND, and a bad ref never reaches the disk', async () => {
    expect(await refusal(store.install({ name: 'test-kernel', version: 'never-pulled' }, onlyRoot))).toMatchObject({ code: 'NOT_FOUND' });
    for (const bad of [{ name: '../etc', version: '1' }, { name: 'k', version: '../../x' }, { name: 'k\0', version: '1' }, { name: 'k', version: 'v'.repeat(65) }]) {
      expect(await refusal(store.install(bad, onlyRoot))).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'BAD_KERNEL_REF' });
    }
    await storeUnchanged();
  });
});
