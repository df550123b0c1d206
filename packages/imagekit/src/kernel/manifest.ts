import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ImageKitError } from '../errors.js';
import { sha256File } from '../hash.js';
import type { Hypervisor } from './catalog.js';

export interface ArtifactRecord {
  /** File name inside the kernel's directory; absent for artifacts not kept (the .deb). */
  file?: string;
  sha256: string;
  size: number;
}

export type KernelArtifact = 'deb' | 'vmlinuz' | 'vmlinux' | 'config' | 'initrd';

/** What a pulled kernel is, written as manifest.json next to its staged artifacts. */
export interface KernelManifest {
  schema: 1;
  name: string;
  flavour: string;
  hypervisors: Hypervisor[];
  package: string;
  packageVersion: string;
  release: string;
  suite: string;
  pulledAt: string;
  artifacts: Record<KernelArtifact, ArtifactRecord>;
  /** Module paths (relative to lib/modules/RELEASE) inside the initramfs, in insertion order. */
  modules: string[];
  missingModules: string[];
}

export interface StagedKernel {
  dir: string;
  manifest: KernelManifest;
  vmlinux: string;
  vmlinuz: string;
  initrd: string;
  config: string;
  modulesDir: string;
}

export const MANIFEST = 'manifest.json';

export function stagedPaths(dir: string, manifest: KernelManifest): StagedKernel {
  return {
    dir,
    manifest,
    vmlinux: path.join(dir, 'vmlinux'),
    vmlinuz: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
    config: path.join(dir, 'config'),
    modulesDir: path.join(dir, 'modules'),
  };
}

export async function readKernelManifest(dir: string): Promise<KernelManifest> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ImageKitError('NOT_FOUND', 'KERNEL_NOT_PULLED', `no kernel manifest in ${dir}`, { dir });
    }
    throw e;
  }
  return JSON.parse(text) as KernelManifest;
}

/** Re-hashes every staged artifact so a corrupted or swapped kernel is caught before boot. */
export async function verifyKernel(dir: string): Promise<StagedKernel> {
  const manifest = await readKernelManifest(dir);
  for (const [name, rec] of Object.entries(manifest.artifacts)) {
    if (rec.file === undefined) continue;
    const actual = await sha256File(path.join(dir, rec.file));
    if (actual !== rec.sha256) {
      throw new ImageKitError(
        'FAILED_PRECONDITION',
        'CHECKSUM_MISMATCH',
        `kernel ${manifest.name} ${manifest.packageVersion}: ${name} has sha256 ${actual}, manifest says ${rec.sha256}`,
        { artifact: name, expected: rec.sha256, actual },
      );
    }
  }
  return stagedPaths(dir, manifest);
}

/** Lists every pulled kernel version under `kernelsDir` (<name>/<version>/manifest.json). */
export async function listPulledKernels(kernelsDir: string): Promise<StagedKernel[]> {
  const out: StagedKernel[] = [];
  const names = await readdir(kernelsDir).catch(() => [] as string[]);
  for (const n of names.filter((x) => !x.startsWith('.')).sort()) {
    const versions = await readdir(path.join(kernelsDir, n)).catch(() => [] as string[]);
    for (const v of versions.filter((x) => !x.startsWith('.')).sort()) {
      const dir = path.join(kernelsDir, n, v);
      if (!(await stat(path.join(dir, MANIFEST)).catch(() => null))) continue;
      out.push(stagedPaths(dir, await readKernelManifest(dir)));
    }
  }
  return out;
}
