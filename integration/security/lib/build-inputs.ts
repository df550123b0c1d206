import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, copyFile, link, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { HelperLayout } from '@banger/config';
import { hostMirror, loadRecipe, recipeFingerprint, sha256File, type KernelManifest, type KeptArtifact } from '@banger/imagekit';
import { baseCacheKey } from '../../../packages/imagekit/src/rootfs/base.js';
import { fetchNpmFile } from '../../../packages/imagekit/src/rootfs/npm-artifact.js';
import type { Account } from '../../harness/accounts.js';
import { TEST_CACHE } from '../../harness/guest.js';
import type { TinyGuest } from '../../harness/tinyguest.js';

const run = promisify(execFile);

export const RECIPE = 'debian-bookworm';

/** An image in privhelper's store, as a previous build would have left it (root's files). */
export interface StoreImage {
  readonly id: string;
  readonly dir: string;
  readonly rootfs: string;
  readonly workSeed: string;
}

/**
 * Puts a small image into privhelper's image store as root, standing in for a finished build:
 * a 16 MiB ext4 rootfs and a work seed whose ext4 can grow to any size (meta_bg, no resize
 * inode), owned and moded exactly as ImageStore.share leaves a built image.
 */
export async function stageStoreImage(helper: HelperLayout, id: string, clientGid: number): Promise<StoreImage> {
  const dir = path.join(helper.imagesDir, id);
  await mkdir(dir, { mode: 0o750 });
  const rootfs = path.join(dir, 'rootfs.ext4');
  const workSeed = path.join(dir, 'work-seed.ext4');
  await run('truncate', ['-s', '16M', rootfs]);
  await run('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', rootfs]);
  await run('truncate', ['-s', '16M', workSeed]);
  await run('mkfs.ext4', ['-q', '-F', '-L', 'work', '-b', '4096', '-O', '64bit,meta_bg,^resize_inode', workSeed]);
  await writeFile(path.join(dir, 'image.json'), `${JSON.stringify({ schema: 1, recipe: 'security-suite', builtAt: new Date().toISOString() })}\n`);
  for (const f of ['rootfs.ext4', 'work-seed.ext4', 'image.json']) {
    await chown(path.join(dir, f), 0, clientGid);
    await chmod(path.join(dir, f), 0o640);
  }
  await chown(dir, 0, clientGid);
  await chmod(dir, 0o750);
  return { id, dir, rootfs, workSeed };
}

/** The four files a kernel keeps, as bytes. */
export type KernelFiles = Record<KeptArtifact, Buffer>;

const FILE_NAMES: Record<KeptArtifact, string> = { vmlinux: 'vmlinux', initrd: 'initrd.img', vmlinuz: 'vmlinuz', config: 'config' };

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The tiny test guest as a kernel's files: QEMU's -kernel boots the bzImage under the name vmlinux. */
export async function tinyKernelFiles(guest: TinyGuest): Promise<KernelFiles> {
  const bz = await readFile(guest.kernelPath);
  return { vmlinux: bz, initrd: await readFile(guest.initrdPath), vmlinuz: bz, config: Buffer.from('CONFIG_SECURITY_SUITE=y\n') };
}

/** A manifest exactly as imaged writes one for `files`; `edit` lets an attack change fields. */
export function kernelManifest(name: string, packageVersion: string, files: KernelFiles, edit: (m: KernelManifest) => unknown = (m) => m): unknown {
  const rec = (k: KeptArtifact): { file: string; sha256: string; size: number } => ({ file: FILE_NAMES[k], sha256: sha(files[k]), size: files[k].length });
  const m: KernelManifest = {
    schema: 1,
    name,
    flavour: 'cloud',
    hypervisors: ['qemu'],
    package: 'linux-image-tiny',
    packageVersion,
    release: '6.1.0-tiny',
    suite: 'bookworm',
    pulledAt: new Date().toISOString(),
    artifacts: { deb: { sha256: sha(files.vmlinuz), size: files.vmlinuz.length }, vmlinuz: rec('vmlinuz'), vmlinux: rec('vmlinux'), config: rec('config'), initrd: rec('initrd') },
    modules: [],
    missingModules: [],
  };
  return edit(m);
}

/** A kernel imaged pulled: `<staging>/<name>/<version>/`, written as root and given to banger, as imaged (banger) would leave it. */
export async function stageKernelAsDaemon(stagingDir: string, name: string, version: string, files: KernelFiles, account: Account): Promise<string> {
  const dir = path.join(stagingDir, name, version);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  for (const k of Object.keys(FILE_NAMES) as KeptArtifact[]) await writeFile(path.join(dir, FILE_NAMES[k]), files[k]);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(kernelManifest(name, version, files)));
  await run('chown', ['-R', `${account.uid}:${account.gid}`, path.join(stagingDir, name)]);
  return dir;
}

export function fileNameOf(k: KeptArtifact): string {
  return FILE_NAMES[k];
}

/** The debootstrap cache key the build will look up, computed exactly as imagekit does. */
export async function baseKeyForRecipe(): Promise<string> {
  const r = await loadRecipe(RECIPE);
  const mirror = r.doc.bootstrap.mirror === 'auto' ? await hostMirror(r.doc.bootstrap.suite) : r.doc.bootstrap.mirror;
  return baseCacheKey(r.doc, mirror);
}

/** The image id BuildRootfs gives the recipe for a kernel (what a caller can compute from public inputs). */
export async function imageIdFor(kernel: { name: string; release: string; packageVersion: string }): Promise<string> {
  const r = await loadRecipe(RECIPE);
  return `${r.name}-${recipeFingerprint(r, kernel).slice(0, 16)}`;
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
 * stands in for a genuine debootstrap result; a poisoned tar uses the same layout.
 */
export async function writeMiniRoot(w: TreeWriter, root: string, systemctlBody: string | null): Promise<void> {
  for (const d of ['bin', 'usr/bin', 'usr/local/bin', 'etc/systemd/system', 'etc/ssh', 'var/lib', 'tmp', 'proc']) await w.mkdir(path.join(root, d));
  await w.copy('/bin/busybox', path.join(root, 'bin/busybox'));
  await w.symlink('busybox', path.join(root, 'bin/sh'));
  if (systemctlBody !== null) await w.writeFile(path.join(root, 'usr/bin/systemctl'), `#!/bin/sh\n${systemctlBody}\nexit 0\n`, 0o755);
}

/** A tar of a mini root, written by root at `tar`; returns its sha256 and size. */
export async function miniRootTar(tar: string, systemctlBody: string | null, links: Record<string, string> = {}): Promise<{ sha256: string; size: number }> {
  const scratch = await mkdtemp(path.join(path.dirname(tar), '.seed-'));
  try {
    await writeMiniRoot(rootWriter, scratch, systemctlBody);
    for (const [inTree, target] of Object.entries(links)) await symlink(target, path.join(scratch, inTree));
    await run('tar', ['-cf', tar, '-C', scratch, '--numeric-owner', '.']);
    return { sha256: await sha256File(tar), size: (await stat(tar)).size };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The recipe's npm artifact (the real, pinned one), fetched once into the machine-wide test cache. */
async function pinnedArtifact(): Promise<{ file: string; dirName: string; relFile: string }> {
  const recipe = await loadRecipe(RECIPE);
  const a = recipe.doc.artifacts[0];
  if (!a) throw new Error('recipe has no npm artifact');
  const file = await fetchNpmFile(a, TEST_CACHE);
  return { file, dirName: `${a.package}-${a.version}`, relFile: path.join('package', a.file) };
}

export interface SeededCache {
  readonly key: string;
  readonly tar: string;
  readonly index: string;
  readonly artifact: string;
}

/**
 * What a previous, legitimate build leaves in privhelper's root-only cache: a base tarball with
 * its entry in the sha256 index (a mini root standing in for debootstrap's output, so builds
 * take seconds and need no network) and the recipe's pinned npm artifact, hard-linked from the
 * machine-wide test cache. Replaces whatever is there.
 */
export async function seedBuildCache(helper: HelperLayout): Promise<SeededCache> {
  const key = await baseKeyForRecipe();
  const deb = helper.debootstrapCache;
  await rm(deb, { recursive: true, force: true });
  await mkdir(deb, { mode: 0o700 });
  const tar = path.join(deb, `${key}.tar`);
  const { sha256, size } = await miniRootTar(tar, '');
  const index = path.join(deb, 'index.json');
  await writeFile(index, `${JSON.stringify({ [key]: { sha256, size, createdAt: new Date().toISOString() } }, null, 2)}\n`, { mode: 0o600 });
  const a = await pinnedArtifact();
  await rm(helper.npmCache, { recursive: true, force: true });
  const artifact = path.join(helper.npmCache, a.dirName, a.relFile);
  await mkdir(path.dirname(artifact), { recursive: true, mode: 0o700 });
  await link(a.file, artifact).catch(() => copyFile(a.file, artifact));
  return { key, tar, index, artifact };
}
