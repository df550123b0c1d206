import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageKitError } from '../errors.js';
import { checkPinned, sha256 } from '../hash.js';
import { listPulledKernels, MANIFEST, verifyKernel, type KernelManifest } from './manifest.js';

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

async function staged(): Promise<{ root: string; dir: string }> {
  const root = await mkdtemp(path.join(tmpdir(), 'imagekit-manifest-'));
  dirs.push(root);
  const dir = path.join(root, 'k', '1.0-1');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  const files = { vmlinuz: 'bz', vmlinux: 'elf', config: 'CONFIG_X=y', 'initrd.img': 'cpio' };
  for (const [f, c] of Object.entries(files)) await writeFile(path.join(dir, f), c);
  const rec = (f: keyof typeof files): { file: string; sha256: string; size: number } => ({ file: f, sha256: sha256(files[f]), size: files[f].length });
  const m: KernelManifest = {
    schema: 1, name: 'k', flavour: 'f', hypervisors: ['qemu'], package: 'linux-image-x', packageVersion: '1.0-1',
    release: '6.1.0-1-cloud-amd64', suite: 'bookworm', pulledAt: new Date(0).toISOString(),
    artifacts: { deb: { sha256: 'a'.repeat(64), size: 1 }, vmlinuz: rec('vmlinuz'), vmlinux: rec('vmlinux'), config: rec('config'), initrd: rec('initrd.img') },
    modules: [], missingModules: [],
  };
  await writeFile(path.join(dir, MANIFEST), JSON.stringify(m));
  return { root, dir };
}

describe('checksums', () => {
  it('checkPinned passes on match or no pin and fails with CHECKSUM_MISMATCH otherwise', () => {
    expect(() => checkPinned('deb', 'a', undefined)).not.toThrow();
    expect(() => checkPinned('deb', 'a', 'a')).not.toThrow();
    try {
      checkPinned('deb', 'a'.repeat(64), 'b'.repeat(64));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ImageKitError);
      expect((e as ImageKitError).reason).toBe('CHECKSUM_MISMATCH');
      expect((e as ImageKitError).fields).toMatchObject({ artifact: 'deb', expected: 'b'.repeat(64) });
    }
  });

  it('verifyKernel accepts an intact kernel and lists it', async () => {
    const { root, dir } = await staged();
    const k = await verifyKernel(dir);
    expect(k.vmlinux).toBe(path.join(dir, 'vmlinux'));
    expect((await listPulledKernels(root)).map((x) => x.dir)).toEqual([dir]);
  });

  it('verifyKernel reports a tampered artifact as CHECKSUM_MISMATCH', async () => {
    const { dir } = await staged();
    await writeFile(path.join(dir, 'vmlinux'), 'evil');
    await expect(verifyKernel(dir)).rejects.toMatchObject({ reason: 'CHECKSUM_MISMATCH', fields: { artifact: 'vmlinux' } });
  });

  it('verifyKernel on an empty dir is KERNEL_NOT_PULLED', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'imagekit-manifest-'));
    dirs.push(root);
    await expect(verifyKernel(root)).rejects.toMatchObject({ kind: 'NOT_FOUND', reason: 'KERNEL_NOT_PULLED' });
  });
});

describe('a hostile kernel directory', () => {
  async function rewrite(dir: string, edit: (m: Record<string, unknown>) => void): Promise<void> {
    const { readFile } = await import('node:fs/promises');
    const m = JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as Record<string, unknown>;
    edit(m);
    await writeFile(path.join(dir, MANIFEST), JSON.stringify(m));
  }

  it('refuses artifact file names that are paths, and manifests without file entries', async () => {
    const { dir } = await staged();
    await rewrite(dir, (m) => ((m['artifacts'] as Record<string, Record<string, unknown>>)['vmlinux']!['file'] = '../../../../etc/shadow'));
    await expect(verifyKernel(dir)).rejects.toMatchObject({ reason: 'KERNEL_MANIFEST_INVALID', fields: { field: 'artifacts.vmlinux.file' } });
    await rewrite(dir, (m) => (m['artifacts'] = { deb: { sha256: 'a'.repeat(64), size: 1 } }));
    await expect(verifyKernel(dir)).rejects.toMatchObject({ reason: 'KERNEL_MANIFEST_INVALID', fields: { field: 'artifacts.vmlinuz' } });
  });

  it('refuses a symlinked artifact (e.g. to /dev/zero) and a FIFO at once instead of reading them', async () => {
    const { symlink, unlink } = await import('node:fs/promises');
    const { execFileSync } = await import('node:child_process');
    const { dir } = await staged();
    await unlink(path.join(dir, 'vmlinux'));
    await symlink('/dev/zero', path.join(dir, 'vmlinux'));
    const t0 = Date.now();
    await expect(verifyKernel(dir)).rejects.toMatchObject({ reason: 'NOT_A_REGULAR_FILE' });
    await unlink(path.join(dir, 'vmlinux'));
    execFileSync('mkfifo', [path.join(dir, 'vmlinux')]);
    await expect(verifyKernel(dir)).rejects.toMatchObject({ reason: 'NOT_A_REGULAR_FILE' });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('refuses a manifest whose identifiers are not plain names', async () => {
    const { dir } = await staged();
    await rewrite(dir, (m) => (m['name'] = '../k'));
    await expect(verifyKernel(dir)).rejects.toMatchObject({ reason: 'KERNEL_MANIFEST_INVALID', fields: { field: 'name' } });
  });
});
