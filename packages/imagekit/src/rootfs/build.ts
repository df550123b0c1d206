import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, open, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { throwIfAborted } from '../errors.js';
import { run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';
import type { ProgressFn } from '../progress.js';
import { recipeFingerprint, type KernelIdentity, type Recipe, type ServiceSpec, type InitMode } from '../recipe/recipe.js';
import { prepareBase } from './base.js';
import { installGuestFiles } from './guest-files.js';
import { hostMirror } from './mirror.js';
import { unmountUnder } from './mounts.js';
import { fetchNpmFile } from './npm-artifact.js';

export interface BuildRootfsOptions {
  recipe: Recipe;
  kernel: KernelIdentity;
  /** Final ext4 path; written as OUT.partial and renamed only on success. */
  outPath: string;
  cacheDir: string;
  mirror?: string;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
  logger?: Logger;
}

export interface BuildRootfsResult {
  path: string;
  fingerprint: string;
  sizeBytes: number;
  initMode: InitMode;
  /** init= value for the kernel command line in the default mode; `inits` has both. */
  init: string;
  inits: Record<InitMode, string>;
  kernelArgs: string[];
  services: ServiceSpec[];
  baseCached: boolean;
  stages: { stage: string; durationMs: number }[];
}

export const ROOTFS_STAGES = ['base', 'artifacts', 'customize', 'mkfs'] as const;

async function createSparse(file: string, bytes: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
}

/** Builds an ext4 image file from a directory with `mkfs.ext4 -d` (no loop mount), sized with headroom. */
export async function mkfsFromDir(dir: string, out: string, label: string, headroomMiB: number, signal?: AbortSignal): Promise<number> {
  const { stdout } = await run('du', ['-s', '--block-size=1M', '-x', dir], toolOptions(signal));
  const usedMiB = Number.parseInt(stdout, 10);
  const mib = Math.ceil((usedMiB * 1.15 + headroomMiB) / 64) * 64;
  await createSparse(out, mib * 1024 * 1024);
  await run('mkfs.ext4', ['-q', '-F', '-L', label, '-d', dir, out], toolOptions(signal));
  return mib * 1024 * 1024;
}

async function customize(recipe: Recipe, root: string, fingerprint: string, signal?: AbortSignal): Promise<void> {
  const units = await installGuestFiles(recipe, root, fingerprint);
  const sd = recipe.doc.systemd;
  const chroot = (...args: string[]): Promise<unknown> => run('chroot', [root, ...args], toolOptions(signal, { privateMounts: true }));
  await chroot('systemctl', 'enable', '--no-reload', ...sd.enable, ...units);
  if (sd.mask.length) await chroot('systemctl', 'mask', ...sd.mask);
  await chroot('systemctl', 'set-default', sd.defaultTarget);
  for (const f of await readdir(path.join(root, 'etc/ssh')).catch(() => [] as string[])) {
    if (f.startsWith('ssh_host_')) await unlink(path.join(root, 'etc/ssh', f));
  }
  await writeFile(path.join(root, 'etc/machine-id'), '');
  await rm(path.join(root, 'var/lib/dbus/machine-id'), { force: true });
  await writeFile(path.join(root, 'etc/hostname'), 'banger\n');
  await mkdir(path.join(root, 'work'), { recursive: true });
}

/**
 * Builds a recipe's root filesystem image. Base system comes from the debootstrap cache when
 * possible; guest files, artifacts and chroot steps are applied on every build. Any failure or
 * abort removes the temp tree and the partial image.
 */
export async function buildRootfs(opts: BuildRootfsOptions): Promise<BuildRootfsResult> {
  const { recipe, signal } = opts;
  const doc = recipe.doc;
  const fingerprint = recipeFingerprint(recipe, opts.kernel);
  const stages: { stage: string; durationMs: number }[] = [];
  const total = ROOTFS_STAGES.length;
  const step = async <T>(i: number, fn: () => Promise<T>, detail?: string): Promise<T> => {
    throwIfAborted(signal);
    const name = ROOTFS_STAGES[i] ?? 'done';
    opts.onProgress?.({ stage: name, done: i, total, ...(detail ? { detail } : {}) });
    const t = performance.now();
    const v = await fn();
    stages.push({ stage: name, durationMs: Math.round(performance.now() - t) });
    opts.logger?.info({ stage: name, duration_ms: stages.at(-1)?.durationMs }, 'rootfs stage done');
    return v;
  };

  const outDir = path.dirname(opts.outPath);
  await mkdir(outDir, { recursive: true });
  await mkdir(opts.cacheDir, { recursive: true });
  const tmp = await mkdtemp(path.join(outDir, `.build-${recipe.name}-`));
  const root = path.join(tmp, 'root');
  const partial = `${opts.outPath}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const mirror = opts.mirror ?? (doc.bootstrap.mirror === 'auto' ? await hostMirror(doc.bootstrap.suite) : doc.bootstrap.mirror);
    const base = await step(0, () => prepareBase({ doc, mirror, root, cacheDir: opts.cacheDir, signal, logger: opts.logger }), mirror);
    await step(1, async () => {
      for (const a of doc.artifacts) {
        const src = await fetchNpmFile(a, opts.cacheDir, signal);
        const dst = path.join(root, a.dest);
        await mkdir(path.dirname(dst), { recursive: true });
        await copyFile(src, dst);
        await chmod(dst, Number.parseInt(a.mode, 8));
      }
    });
    await step(2, () => customize(recipe, root, fingerprint, signal));
    const sizeBytes = await step(3, () => mkfsFromDir(root, partial, 'rootfs', doc.rootfs.headroomMiB, signal));
    throwIfAborted(signal);
    await rename(partial, opts.outPath);
    opts.onProgress?.({ stage: 'done', done: total, total });
    return {
      path: opts.outPath,
      fingerprint,
      sizeBytes,
      initMode: doc.initMode,
      init: doc.init[doc.initMode],
      inits: doc.init,
      kernelArgs: doc.kernelArgs,
      services: doc.services,
      baseCached: base.cached,
      stages,
    };
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  } finally {
    await unmountUnder(tmp);
    await rm(tmp, { recursive: true, force: true });
  }
}

/** True when a finished image for this fingerprint already exists, so a rebuild can be skipped. */
export async function imageExists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isFile() ?? false;
}
