import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ImageKitError } from '../errors.js';
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

/** The artifacts a staged kernel keeps, each under exactly this bare file name. */
export const KERNEL_FILES = { vmlinux: 'vmlinux', initrd: 'initrd.img', vmlinuz: 'vmlinuz', config: 'config' } as const;
export type KeptArtifact = keyof typeof KERNEL_FILES;

/** Upper bounds on what a kernel may weigh: far above Debian's, far below "fill the disk". */
export const KERNEL_FILE_LIMITS: Readonly<Record<KeptArtifact, number>> = {
  vmlinux: 256 * 1024 * 1024,
  initrd: 256 * 1024 * 1024,
  vmlinuz: 64 * 1024 * 1024,
  config: 4 * 1024 * 1024,
};
export const MAX_KERNEL_MANIFEST_BYTES = 1024 * 1024;

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+~:-]{0,63}$/;
const RELEASE_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
const SHA_RE = /^[0-9a-f]{64}$/;
const MODULE_RE = /^[A-Za-z0-9_+.-]+(?:\/[A-Za-z0-9_+.-]+)*$/;

function invalidManifest(where: string, field: string, why: string): ImageKitError {
  return new ImageKitError('FAILED_PRECONDITION', 'KERNEL_MANIFEST_INVALID', `kernel manifest ${where}: ${field} ${why}`, { field });
}

/**
 * Parses a manifest.json strictly: every kept artifact must be present under its exact bare
 * file name with a sha256 and a bounded size, and identifiers must be plain names. A manifest
 * is read by root (privhelper installs kernels imaged pulled), so nothing in it may name a path.
 */
export function parseKernelManifest(text: string, where: string): KernelManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalidManifest(where, 'manifest', 'is not JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw invalidManifest(where, 'manifest', 'is not an object');
  const m = raw as Record<string, unknown>;
  const str = (k: string, re: RegExp): string => {
    const v = m[k];
    if (typeof v !== 'string' || !re.test(v)) throw invalidManifest(where, k, `must match ${re.source}`);
    return v;
  };
  if (m['schema'] !== 1) throw invalidManifest(where, 'schema', 'must be 1');
  const artifacts = m['artifacts'];
  if (typeof artifacts !== 'object' || artifacts === null) throw invalidManifest(where, 'artifacts', 'is missing');
  const a = artifacts as Record<string, unknown>;
  const record = (k: string, file: string | undefined, limit: number): ArtifactRecord => {
    const r = a[k];
    if (typeof r !== 'object' || r === null) throw invalidManifest(where, `artifacts.${k}`, 'is missing');
    const rec = r as Record<string, unknown>;
    if (rec['file'] !== file) throw invalidManifest(where, `artifacts.${k}.file`, file === undefined ? 'must be absent' : `must be ${JSON.stringify(file)}`);
    if (typeof rec['sha256'] !== 'string' || !SHA_RE.test(rec['sha256'])) throw invalidManifest(where, `artifacts.${k}.sha256`, 'must be 64 hex digits');
    const size = rec['size'];
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1 || size > limit) throw invalidManifest(where, `artifacts.${k}.size`, `must be within 1..${limit}`);
    return file === undefined ? { sha256: rec['sha256'], size } : { file, sha256: rec['sha256'], size };
  };
  const list = (k: string): string[] => {
    const v = m[k] ?? [];
    if (!Array.isArray(v) || v.length > 512 || !v.every((x): x is string => typeof x === 'string' && MODULE_RE.test(x) && !x.split('/').includes('..'))) {
      throw invalidManifest(where, k, 'must be a list of relative module paths');
    }
    return v;
  };
  const hypervisors = m['hypervisors'];
  if (!Array.isArray(hypervisors) || !hypervisors.every((h) => h === 'qemu' || h === 'firecracker')) throw invalidManifest(where, 'hypervisors', 'must list qemu/firecracker');
  return {
    schema: 1,
    name: str('name', NAME_RE),
    flavour: str('flavour', NAME_RE),
    hypervisors: hypervisors as Hypervisor[],
    package: str('package', NAME_RE),
    packageVersion: str('packageVersion', VERSION_RE),
    release: str('release', RELEASE_RE),
    suite: str('suite', NAME_RE),
    pulledAt: typeof m['pulledAt'] === 'string' ? m['pulledAt'].slice(0, 64) : '',
    artifacts: {
      deb: record('deb', undefined, 1024 * 1024 * 1024),
      vmlinuz: record('vmlinuz', KERNEL_FILES.vmlinuz, KERNEL_FILE_LIMITS.vmlinuz),
      vmlinux: record('vmlinux', KERNEL_FILES.vmlinux, KERNEL_FILE_LIMITS.vmlinux),
      config: record('config', KERNEL_FILES.config, KERNEL_FILE_LIMITS.config),
      initrd: record('initrd', KERNEL_FILES.initrd, KERNEL_FILE_LIMITS.initrd),
    },
    modules: list('modules'),
    missingModules: list('missingModules'),
  };
}

/**
 * Opens a file for reading without following a symlink and without blocking on a FIFO or a
 * device, and refuses anything but a regular file of at most `maxBytes`.
 */
export async function openRegularBounded(file: string, maxBytes: number): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageKitError('NOT_FOUND', 'KERNEL_NOT_PULLED', `${file} does not exist`, { path: file });
    if (code === 'ELOOP') throw new ImageKitError('FAILED_PRECONDITION', 'NOT_A_REGULAR_FILE', `${file} is a symlink`, { path: file });
    throw e;
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new ImageKitError('FAILED_PRECONDITION', 'NOT_A_REGULAR_FILE', `${file} is not a regular file`, { path: file });
  }
  if (st.size > maxBytes) {
    await fh.close();
    throw new ImageKitError('FAILED_PRECONDITION', 'FILE_TOO_LARGE', `${file} is ${st.size} bytes, more than ${maxBytes}`, { path: file });
  }
  return { fh, size: st.size };
}

export async function readKernelManifest(dir: string): Promise<KernelManifest> {
  const file = path.join(dir, MANIFEST);
  const { fh } = await openRegularBounded(file, MAX_KERNEL_MANIFEST_BYTES).catch((e: unknown) => {
    if (e instanceof ImageKitError && e.reason === 'KERNEL_NOT_PULLED') throw new ImageKitError('NOT_FOUND', 'KERNEL_NOT_PULLED', `no kernel manifest in ${dir}`, { dir });
    throw e;
  });
  try {
    return parseKernelManifest(await fh.readFile('utf8'), file);
  } finally {
    await fh.close();
  }
}

/** sha256 of an open file, read from the start. */
export async function sha256Of(fh: FileHandle): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fh.createReadStream({ start: 0, autoClose: false })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Re-hashes every staged artifact so a corrupted or swapped kernel is caught before boot. */
export async function verifyKernel(dir: string): Promise<StagedKernel> {
  const manifest = await readKernelManifest(dir);
  for (const name of Object.keys(KERNEL_FILES) as KeptArtifact[]) {
    const rec = manifest.artifacts[name];
    const { fh, size } = await openRegularBounded(path.join(dir, KERNEL_FILES[name]), KERNEL_FILE_LIMITS[name]);
    let actual: string;
    try {
      actual = size === rec.size ? await sha256Of(fh) : `size ${size}`;
    } finally {
      await fh.close();
    }
    if (actual !== rec.sha256) {
      throw new ImageKitError(
        'FAILED_PRECONDITION',
        'CHECKSUM_MISMATCH',
        `kernel ${manifest.name} ${manifest.packageVersion}: ${name} does not match its manifest (${actual === `size ${size}` ? `${size} bytes, manifest says ${rec.size}` : 'sha256 differs'})`,
        { artifact: name },
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
