import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { hostMirror, loadRecipe, sha256File, type KernelManifest } from '@banger/imagekit';
import { baseCacheKey } from '../../../packages/imagekit/src/rootfs/base.js';
import { buildTinyGuest } from '../../harness/tinyguest.js';
import type { Account } from './account.js';

const run = promisify(execFile);

export const RECIPE = 'debian-bookworm';

/** The tiny test guest where imaged would keep a pulled image: banger-owned files under the state dir. */
export interface StagedGuest {
  readonly dir: string;
  readonly kernel: string;
  readonly initrd: string;
  /** A small ext4 to back overlays. */
  readonly base: string;
}

/** A kernel as imaged stages it (<state>/kernels/NAME/VERSION, banger-owned) with a correct manifest. */
export interface StagedKernelDir {
  readonly dir: string;
  readonly modulesDir: string;
  readonly identity: { name: string; release: string; packageVersion: string };
}

async function chownTree(p: string, account: Account): Promise<void> {
  await run('chown', ['-R', `${account.uid}:${account.gid}`, p]);
}

export async function stageTinyGuest(stateDir: string, account: Account): Promise<StagedGuest> {
  const guest = await buildTinyGuest();
  const dir = path.join(stateDir, 'images', 'tiny');
  await mkdir(dir, { recursive: true });
  const kernel = path.join(dir, 'vmlinuz');
  const initrd = path.join(dir, 'initrd.cpio.gz');
  const base = path.join(dir, 'base.ext4');
  await copyFile(guest.kernelPath, kernel);
  await copyFile(guest.initrdPath, initrd);
  await run('truncate', ['-s', '16M', base]);
  await run('mkfs.ext4', ['-q', '-F', base]);
  await chownTree(path.join(stateDir, 'images'), account);
  return { dir, kernel, initrd, base };
}

export async function stageKernel(stateDir: string, guest: StagedGuest, account: Account): Promise<StagedKernelDir> {
  const identity = { name: 'tiny', release: '6.1.0-tiny', packageVersion: '6.1.0-1' };
  const dir = path.join(stateDir, 'kernels', identity.name, identity.packageVersion);
  const modulesDir = path.join(dir, 'modules');
  await mkdir(modulesDir, { recursive: true });
  await copyFile(guest.kernel, path.join(dir, 'vmlinuz'));
  await copyFile(guest.initrd, path.join(dir, 'initrd.img'));
  const rec = async (file: string): Promise<{ file: string; sha256: string; size: number }> => ({
    file,
    sha256: await sha256File(path.join(dir, file)),
    size: (await stat(path.join(dir, file))).size,
  });
  const vmlinuz = await rec('vmlinuz');
  const manifest: KernelManifest = {
    schema: 1,
    name: identity.name,
    flavour: 'cloud',
    hypervisors: ['qemu'],
    package: 'linux-image-tiny',
    packageVersion: identity.packageVersion,
    release: identity.release,
    suite: 'bookworm',
    pulledAt: new Date().toISOString(),
    artifacts: { deb: { sha256: vmlinuz.sha256, size: 0 }, vmlinuz, vmlinux: vmlinuz, config: vmlinuz, initrd: await rec('initrd.img') },
    modules: [],
    missingModules: [],
  };
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await chownTree(path.join(stateDir, 'kernels'), account);
  return { dir, modulesDir, identity };
}

/** The debootstrap cache key the build will look up, computed exactly as imagekit does. */
export async function baseKeyForRecipe(): Promise<string> {
  const r = await loadRecipe(RECIPE);
  const mirror = r.doc.bootstrap.mirror === 'auto' ? await hostMirror(r.doc.bootstrap.suite) : r.doc.bootstrap.mirror;
  return baseCacheKey(r.doc, mirror);
}

/** The few file operations a root tree is built with, so root and the attacker build the same tree. */
export interface TreeWriter {
  mkdir(p: string): Promise<void>;
  copy(from: string, to: string): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  writeFile(p: string, data: string, mode: number): Promise<void>;
}

export const rootWriter: TreeWriter = {
  mkdir: async (p) => void (await mkdir(p, { recursive: true })),
  copy: (from, to) => copyFile(from, to),
  symlink: (target, p) => symlink(target, p),
  writeFile: (p, data, mode) => writeFile(p, data, { mode }),
};

/**
 * A root filesystem tree small enough to build in seconds: busybox, and (unless null) a
 * `systemctl` shell script running `systemctlBody` then exiting 0. With an empty body it
 * stands in for a genuine debootstrap result; the attacker's poisoned tars use the same layout.
 */
export async function writeMiniRoot(w: TreeWriter, root: string, systemctlBody: string | null): Promise<void> {
  for (const d of ['bin', 'usr/bin', 'usr/local/bin', 'etc/systemd/system', 'etc/ssh', 'var/lib', 'tmp', 'proc']) await w.mkdir(path.join(root, d));
  await w.copy('/bin/busybox', path.join(root, 'bin/busybox'));
  await w.symlink('busybox', path.join(root, 'bin/sh'));
  if (systemctlBody !== null) await w.writeFile(path.join(root, 'usr/bin/systemctl'), `#!/bin/sh\n${systemctlBody}\nexit 0\n`, 0o755);
}

/**
 * What a previous, legitimate build leaves in the machine-wide cache: the debootstrap tar and
 * the npm artifact, written by root (privhelper) into `<cache>/debootstrap` and `<cache>/npm`,
 * which root creates inside the banger-owned cache dir. Replaces whatever is there.
 */
export async function seedBuildCacheAsRoot(cacheDir: string): Promise<{ key: string; tar: string; artifact: string }> {
  const key = await baseKeyForRecipe();
  const recipe = await loadRecipe(RECIPE);
  for (const sub of ['debootstrap', 'npm']) await rm(path.join(cacheDir, sub), { recursive: true, force: true });
  await mkdir(path.join(cacheDir, 'debootstrap'), { recursive: true });
  const scratch = await mkdtemp(path.join(cacheDir, '.seed-'));
  try {
    await writeMiniRoot(rootWriter, scratch, '');
    const tar = path.join(cacheDir, 'debootstrap', `${key}.tar`);
    await run('tar', ['-cf', tar, '-C', scratch, '--numeric-owner', '.']);
    let artifact = '';
    for (const a of recipe.doc.artifacts) {
      artifact = path.join(cacheDir, 'npm', `${a.package}-${a.version}`, 'package', a.file);
      await mkdir(path.dirname(artifact), { recursive: true });
      await writeFile(artifact, '#!/bin/sh\necho legitimate stand-in for the npm artifact\n', { mode: 0o755 });
    }
    return { key, tar, artifact };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Removes what a build left in the images dir so the next attempt builds again. */
export async function removeAsRoot(p: string): Promise<void> {
  await rm(p, { recursive: true, force: true });
}

export { chownTree };
