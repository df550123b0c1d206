import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KERNEL_FILES, MANIFEST, type KeptArtifact } from '@banger/imagekit';
import type { KernelRef } from '../domain/store/ids.js';
import { IMAGE_JSON, ROOTFS, WORK_SEED } from '../adapters/store/image-store.js';

/**
 * Fixtures for tests of privhelper's stores, made the way production makes them: a kernel
 * staged where imaged pulls kernels (`<state>/kernels/<name>/<version>/` with a manifest
 * parseKernelManifest accepts), and an image directory as BuildRootfs leaves it in the store.
 */

const exec = promisify(execFile);

/** Contents of a staged kernel's artifacts: a file to copy, or the bytes themselves. */
export type KernelSources = Record<KeptArtifact, string | Buffer>;

export interface StageKernelOptions {
  readonly release?: string;
  /** Changes the manifest before it is written (tests of a hostile manifest). */
  readonly editManifest?: (manifest: Record<string, unknown>) => void;
}

/** Writes a kernel into `<stagingDir>/<name>/<version>/` with its manifest; returns the directory. */
export async function stageKernel(stagingDir: string, ref: KernelRef, sources: KernelSources, opts: StageKernelOptions = {}): Promise<string> {
  const dir = path.join(stagingDir, ref.name, ref.version);
  await mkdir(dir, { recursive: true });
  const artifacts: Record<string, { file?: string; sha256: string; size: number }> = {};
  for (const name of Object.keys(KERNEL_FILES) as KeptArtifact[]) {
    const src = sources[name];
    const bytes = typeof src === 'string' ? await readFile(src) : src;
    await writeFile(path.join(dir, KERNEL_FILES[name]), bytes);
    artifacts[name] = { file: KERNEL_FILES[name], sha256: sha256(bytes), size: bytes.length };
  }
  // No .deb is kept; its record names what the artifacts came from.
  artifacts['deb'] = { sha256: artifacts['vmlinuz']!.sha256, size: artifacts['vmlinuz']!.size };
  const manifest: Record<string, unknown> = {
    schema: 1,
    name: ref.name,
    flavour: 'test',
    hypervisors: ['qemu'],
    package: `linux-image-${ref.name}`,
    packageVersion: ref.version,
    release: opts.release ?? '6.1.0-0-test-amd64',
    suite: 'bookworm',
    pulledAt: new Date().toISOString(),
    artifacts,
    modules: [],
    missingModules: [],
  };
  opts.editManifest?.(manifest);
  await writeFile(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

/** Small distinct bytes for each artifact, for tests that never boot the kernel. */
export function fakeKernelSources(tag = 'k'): KernelSources {
  return {
    vmlinux: Buffer.from(`\x7fELF fake vmlinux ${tag}\n`.repeat(64)),
    initrd: Buffer.from(`fake initrd ${tag}\n`.repeat(32)),
    vmlinuz: Buffer.from(`fake bzImage ${tag}\n`.repeat(48)),
    config: Buffer.from(`CONFIG_FAKE_${tag.toUpperCase()}=y\n`),
  };
}

export interface StoreImageOptions {
  readonly rootfsSize?: string;
  readonly seedSize?: string;
  /** Files (name → content) in the rootfs and in the work seed. */
  readonly rootfsFiles?: Readonly<Record<string, string>>;
  readonly seedFiles?: Readonly<Record<string, string>>;
}

/**
 * An image in privhelper's store, `<imagesDir>/<id>/{rootfs.ext4,work-seed.ext4,image.json}`,
 * root-owned and 0750/0640 as ImageStore.share leaves a built one. Needs mkfs.ext4.
 */
export async function writeStoreImage(imagesDir: string, id: string, opts: StoreImageOptions = {}): Promise<string> {
  const dir = path.join(imagesDir, id);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  await makeExt4(path.join(dir, ROOTFS), opts.rootfsSize ?? '16M', 'rootfs', opts.rootfsFiles ?? {});
  await makeExt4(path.join(dir, WORK_SEED), opts.seedSize ?? '16M', 'work', opts.seedFiles ?? {});
  await writeFile(path.join(dir, IMAGE_JSON), `${JSON.stringify({ schema: 1, recipe: 'test-fixture', image: id, builtAt: new Date().toISOString() }, null, 2)}\n`);
  for (const f of [ROOTFS, WORK_SEED, IMAGE_JSON]) await chmod(path.join(dir, f), 0o640);
  await chmod(dir, 0o750);
  return dir;
}

/** A sparse ext4 file with the given files at its root, built without mounting anything. */
export async function makeExt4(file: string, size: string, label: string, files: Readonly<Record<string, string>> = {}): Promise<void> {
  await exec('truncate', ['-s', size, file]);
  const names = Object.keys(files);
  if (names.length === 0) {
    await exec('mkfs.ext4', ['-q', '-F', '-L', label, file]);
    return;
  }
  const content = await mkdtemp(path.join(tmpdir(), 'banger-ext4-'));
  try {
    for (const n of names) await writeFile(path.join(content, n), files[n]!);
    await exec('mkfs.ext4', ['-q', '-F', '-L', label, '-d', content, file]);
  } finally {
    await rm(content, { recursive: true, force: true });
  }
}

/** A file read out of an ext4 image with debugfs (no mount). */
export async function ext4Cat(image: string, file: string): Promise<string> {
  return (await exec('debugfs', ['-R', `cat /${file}`, image], { encoding: 'utf8' })).stdout;
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
