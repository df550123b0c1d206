import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ImageKitError, throwIfAborted } from '../errors.js';
import { run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';
import { checkPinned, sha256File } from '../hash.js';
import { DEFAULT_IMAGES_DIR } from '../layout.js';
import type { ProgressFn } from '../progress.js';
import { aptDownload, aptUpdate, resolveKernelPackage, type AptState } from './apt.js';
import type { KernelCatalogEntry, PinnableArtifact } from './catalog.js';
import { isStaticElf } from './elf.js';
import { buildInitramfs } from './initramfs.js';
import { MANIFEST, verifyKernel, type ArtifactRecord, type KernelManifest, type StagedKernel } from './manifest.js';
import { extractVmlinux } from './vmlinux.js';

export interface PullKernelOptions {
  entry: KernelCatalogEntry;
  kernelsDir: string;
  imagesDir?: string;
  busybox?: string;
  /** Run `apt-get update` first (fresh machines / stale lists). */
  aptUpdate?: boolean;
  /** Whose package lists apt uses: the system's, or a private dir (an unprivileged caller). */
  apt?: AptState;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
  logger?: Logger;
}

const STAGES = ['resolve', 'download', 'unpack', 'vmlinux', 'initramfs', 'manifest'] as const;

async function record(dir: string, file: string, artifact: string, pinned?: string): Promise<ArtifactRecord> {
  const full = path.join(dir, file);
  const sha = await sha256File(full);
  checkPinned(artifact, sha, pinned);
  return { file, sha256: sha, size: (await stat(full)).size };
}

/**
 * Resolves a catalog entry to the kernel package apt offers today, downloads and unpacks it,
 * stages vmlinuz + extracted vmlinux + config + modules subset + a generated initramfs into
 * `<kernelsDir>/<name>/<version>/` and writes a manifest. Idempotent: an already staged
 * version is verified and returned. A failed or cancelled pull leaves nothing behind.
 */
export async function pullKernel(opts: PullKernelOptions): Promise<StagedKernel & { alreadyPresent: boolean }> {
  const { entry, kernelsDir, signal } = opts;
  const imagesDir = opts.imagesDir ?? DEFAULT_IMAGES_DIR;
  const busybox = opts.busybox ?? '/bin/busybox';
  const log = opts.logger;
  const progress = (i: number, detail?: string): void =>
    opts.onProgress?.({ stage: STAGES[i] ?? 'done', done: i, total: STAGES.length, ...(detail ? { detail } : {}) });
  const pins = entry.sha256 as Partial<Record<PinnableArtifact, string>>;

  progress(0);
  if (opts.aptUpdate) await aptUpdate(opts.apt ?? {}, signal);
  const resolved = await resolveKernelPackage(entry.source.package, entry.source.version, signal, opts.apt);
  log?.info({ kernel: entry.name, package: resolved.package, version: resolved.version }, 'kernel resolved');
  const versionDir = resolved.version.replace(/:/g, '_');
  const finalDir = path.join(kernelsDir, entry.name, versionDir);
  if (await stat(path.join(finalDir, MANIFEST)).catch(() => null)) {
    const staged = await verifyKernel(finalDir);
    progress(STAGES.length, 'already present');
    return { ...staged, alreadyPresent: true };
  }
  if (!(await isStaticElf(busybox).catch(() => false))) {
    throw new ImageKitError('FAILED_PRECONDITION', 'TOOL_MISSING', `${busybox} is not a static binary (install busybox-static)`, {
      path: busybox,
    });
  }

  await mkdir(path.join(kernelsDir, entry.name), { recursive: true });
  const work = await mkdtemp(path.join(kernelsDir, entry.name, `.pull-${versionDir}-`));
  const stageDir = path.join(work, 'stage');
  try {
    progress(1, `${resolved.package}=${resolved.version}`);
    const dl = path.join(work, 'dl');
    await mkdir(dl);
    await aptDownload(resolved.package, resolved.version, dl, signal, opts.apt);
    const debName = (await readdir(dl)).find((f) => f.endsWith('.deb'));
    if (!debName) throw new ImageKitError('INTERNAL', 'KERNEL_DOWNLOAD_FAILED', 'apt-get download produced no .deb');
    const debSha = await sha256File(path.join(dl, debName));
    checkPinned('deb', debSha, pins.deb);
    const debSize = (await stat(path.join(dl, debName))).size;

    progress(2);
    const root = path.join(work, 'root');
    await run('dpkg-deb', ['-x', path.join(dl, debName), root], toolOptions(signal));
    await rm(dl, { recursive: true, force: true });
    await mkdir(stageDir);
    const rel = resolved.release;
    await copyFile(path.join(root, 'boot', `vmlinuz-${rel}`), path.join(stageDir, 'vmlinuz'));
    await copyFile(path.join(root, 'boot', `config-${rel}`), path.join(stageDir, 'config'));

    progress(3);
    throwIfAborted(signal);
    await writeFile(path.join(stageDir, 'vmlinux'), await extractVmlinux(await readFile(path.join(stageDir, 'vmlinuz'))));

    progress(4);
    const { modules, missing } = await buildInitramfs({
      packageRoot: root,
      release: rel,
      modules: entry.initramfsModules,
      initScript: path.join(imagesDir, 'initramfs', 'init'),
      busybox,
      modulesOut: path.join(stageDir, 'modules'),
      initrdOut: path.join(stageDir, 'initrd.img'),
      signal,
    });
    if (missing.length) log?.warn({ kernel: entry.name, missing }, 'initramfs modules not found');

    progress(5);
    const manifest: KernelManifest = {
      schema: 1,
      name: entry.name,
      flavour: entry.flavour,
      hypervisors: entry.hypervisors,
      package: resolved.package,
      packageVersion: resolved.version,
      release: rel,
      suite: entry.source.suite,
      pulledAt: new Date().toISOString(),
      artifacts: {
        deb: { sha256: debSha, size: debSize },
        vmlinuz: await record(stageDir, 'vmlinuz', 'vmlinuz', pins.vmlinuz),
        vmlinux: await record(stageDir, 'vmlinux', 'vmlinux', pins.vmlinux),
        config: await record(stageDir, 'config', 'config', pins.config),
        initrd: await record(stageDir, 'initrd.img', 'initrd'),
      },
      modules,
      missingModules: missing,
    };
    await writeFile(path.join(stageDir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    throwIfAborted(signal);
    try {
      await rename(stageDir, finalDir);
    } catch (e) {
      // A concurrent pull of the same version won the race; use its result.
      if (!['ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      return { ...(await verifyKernel(finalDir)), alreadyPresent: true };
    }
    progress(STAGES.length, 'staged');
    log?.info({ kernel: entry.name, version: resolved.version, dir: finalDir }, 'kernel staged');
    return { ...(await verifyKernel(finalDir)), alreadyPresent: false };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Removes one staged kernel version (callers check that no image or VM still uses it). */
export async function removeKernel(kernelsDir: string, name: string, version: string): Promise<void> {
  const dir = path.join(kernelsDir, name, version.replace(/:/g, '_'));
  if (!(await stat(dir).catch(() => null))) {
    throw new ImageKitError('NOT_FOUND', 'KERNEL_NOT_PULLED', `kernel ${name} ${version} is not pulled`, { name, version });
  }
  await rm(dir, { recursive: true, force: true });
}
