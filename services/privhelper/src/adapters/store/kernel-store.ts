import { createHash } from 'node:crypto';
import { constants as fsc, fstatSync, read, write } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { HelperLayout } from '@banger/config';
import {
  KERNEL_FILE_LIMITS,
  KERNEL_FILES,
  MANIFEST,
  MAX_KERNEL_MANIFEST_BYTES,
  parseKernelManifest,
  stagedPaths,
  type KeptArtifact,
  type KernelManifest,
  type StagedKernel,
} from '@banger/imagekit';
import { FailedPreconditionError, NotFoundError } from '@banger/runtime/errors';
import { Dir, type FileFd } from '@banger/sys';
import { validateKernelRef, versionDirName, type KernelRef } from '../../domain/store/ids.js';

export interface InstalledKernel {
  readonly ref: KernelRef;
  readonly release: string;
  readonly vmlinuxSha256: string;
  readonly initrdSha256: string;
  readonly sizeBytes: number;
}

/** Which uids may own a pulled kernel's files: the caller (imaged) or root. */
export type OwnerCheck = (uid: number) => boolean;

/**
 * privhelper's kernel store, `<kernelsDir>/<name>/<version>/`: root's own copies of kernels
 * imaged pulled, the only kernels LaunchHypervisor boots and BuildRootfs builds for.
 *
 * Installing reads imaged's staging directory, which imaged (another uid) can change at any
 * moment, so it is read only through directory descriptors: no symlink is followed anywhere
 * under it, every artifact must be a regular file owned by the caller (or root) with one link
 * and a bounded size, and each copy is hashed as it is written and compared with the
 * manifest, which is parsed strictly (bare file names only). What lands in the store is the
 * bytes privhelper copied, never an inode another uid could still write.
 */
export class KernelStore {
  private readonly manifests = new Map<string, KernelManifest>();

  constructor(
    private readonly layout: HelperLayout,
    /** imaged's kernels directory (`<state_dir>/kernels`). */
    private readonly stagingDir: string,
    private readonly clientGid: number,
    private readonly log: Logger,
  ) {}

  dirOf(ref: KernelRef): string {
    const k = validateKernelRef(ref);
    return path.join(this.layout.kernelsDir, k.name, k.version);
  }

  /** Paths of an installed kernel for QEMU; NOT_FOUND when it was never installed. */
  async paths(ref: KernelRef, field = 'kernel'): Promise<{ vmlinux: string; initrd: string; manifest: KernelManifest }> {
    const dir = this.dirOf(ref);
    // The store is root's and an installed kernel never changes: parse its manifest once.
    const known = this.manifests.get(dir);
    if (known) return { vmlinux: path.join(dir, KERNEL_FILES.vmlinux), initrd: path.join(dir, KERNEL_FILES.initrd), manifest: known };
    const text = await readFile(path.join(dir, MANIFEST), 'utf8').catch(() => undefined);
    if (text === undefined) {
      throw new NotFoundError('installed kernel', `${ref.name} ${ref.version}`, 'KERNEL_NOT_INSTALLED', {
        fields: { field, hint: 'imaged installs a kernel into privhelper after pulling it (InstallKernel)' },
      });
    }
    const manifest = parseKernelManifest(text, dir);
    // World-readable: each VM's QEMU runs as a uid of its own and reads its kernel through a
    // bind mount in its jail. Kernels installed before the jail were 0640; root fixes that here.
    for (const f of [KERNEL_FILES.vmlinux, KERNEL_FILES.initrd]) await chmod(path.join(dir, f), 0o644);
    this.manifests.set(dir, manifest);
    return { vmlinux: path.join(dir, KERNEL_FILES.vmlinux), initrd: path.join(dir, KERNEL_FILES.initrd), manifest };
  }

  /** The installed kernel as imagekit's StagedKernel (for image builds). */
  async staged(ref: KernelRef): Promise<StagedKernel> {
    const { manifest } = await this.paths(ref);
    return stagedPaths(this.dirOf(ref), manifest);
  }

  async install(refIn: KernelRef, ownerOk: OwnerCheck): Promise<{ kernel: InstalledKernel; installed: boolean }> {
    const ref = validateKernelRef(refIn);
    const final = this.dirOf(ref);
    if (await lstat(path.join(final, MANIFEST)).catch(() => undefined)) {
      return { kernel: await this.describe(ref), installed: false };
    }
    const started = Date.now();
    // Built beside the name directories (dot names are never listed) and moved into place only
    // once verified, so a refused install leaves nothing in the store, not even an empty <name>/.
    const tmp = await mkdtemp(path.join(this.layout.kernelsDir, `.install-${ref.name}-${ref.version}-`));
    try {
      const manifest = await this.copyFromStaging(ref, tmp, ownerOk);
      await moveIntoPlace(tmp, final);
      this.log.info({ kernel: ref.name, version: ref.version, release: manifest.release, duration_ms: Date.now() - started }, 'kernel installed');
      return { kernel: await this.describe(ref), installed: true };
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  async list(): Promise<InstalledKernel[]> {
    const out: InstalledKernel[] = [];
    for (const name of (await readdir(this.layout.kernelsDir).catch(() => [] as string[])).sort()) {
      if (name.startsWith('.')) continue;
      for (const version of (await readdir(path.join(this.layout.kernelsDir, name)).catch(() => [] as string[])).sort()) {
        if (version.startsWith('.')) continue;
        const k = await this.describe({ name, version }).catch(() => undefined);
        if (k) out.push(k);
      }
    }
    return out;
  }

  async remove(ref: KernelRef): Promise<boolean> {
    const dir = this.dirOf(ref);
    this.manifests.delete(dir);
    if (!(await lstat(dir).catch(() => undefined))) return false;
    await rm(dir, { recursive: true, force: true });
    // The name directory goes with its last version (rmdir refuses while another remains).
    await rmdir(path.dirname(dir)).catch(() => undefined);
    return true;
  }

  private async describe(ref: KernelRef): Promise<InstalledKernel> {
    const { manifest } = await this.paths(ref);
    const a = manifest.artifacts;
    return { ref, release: manifest.release, vmlinuxSha256: a.vmlinux.sha256, initrdSha256: a.initrd.sha256, sizeBytes: a.vmlinux.size + a.initrd.size + a.vmlinuz.size + a.config.size };
  }

  /** Copies the staged kernel into `tmp` (root-owned), verifying as it goes; returns its manifest. */
  private async copyFromStaging(ref: KernelRef, tmp: string, ownerOk: OwnerCheck): Promise<KernelManifest> {
    const where = `${ref.name} ${ref.version}`;
    using staging = Dir.open(this.stagingDir);
    using src = staging.openDir(path.join(ref.name, ref.version));
    const manifestBytes = src.readFileBounded(MANIFEST, MAX_KERNEL_MANIFEST_BYTES);
    const manifest = parseKernelManifest(manifestBytes.toString('utf8'), `${this.stagingDir}/${ref.name}/${ref.version}`);
    if (manifest.name !== ref.name || versionDirName(manifest.packageVersion) !== ref.version) {
      throw new FailedPreconditionError('KERNEL_MANIFEST_INVALID', `kernel ${where}: the manifest describes ${manifest.name} ${manifest.packageVersion}`, { fields: { field: 'kernel' } });
    }
    using dst = Dir.open(tmp, { expect: { uid: 0, notWritableByOthers: true } });
    for (const name of Object.keys(KERNEL_FILES) as KeptArtifact[]) {
      const rec = manifest.artifacts[name];
      using from = src.open(KERNEL_FILES[name], fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY);
      checkSource(from, ownerOk, KERNEL_FILE_LIMITS[name], `${where}: ${name}`);
      // 0644: a jailed QEMU (a uid of its own) reads the kernel it boots; kernels are public.
      using to = dst.open(KERNEL_FILES[name], fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
      const copied = await copyHashing(from.fd, to.fd, KERNEL_FILE_LIMITS[name]);
      if (copied.bytes !== rec.size || copied.sha256 !== rec.sha256) {
        throw new FailedPreconditionError('CHECKSUM_MISMATCH', `kernel ${where}: ${name} does not match its manifest`, { fields: { artifact: name } });
      }
      to.setOwner(0, this.clientGid);
    }
    dst.writeFileAtomic(MANIFEST, manifestBytes, 0o640);
    dst.chown(MANIFEST, 0, this.clientGid);
    dst.setOwner(0, this.clientGid);
    dst.setMode(0o750);
    return manifest;
  }
}

/** Renames a verified copy to its store name, creating the name directory (again, if a concurrent remove took it). */
async function moveIntoPlace(tmp: string, final: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await mkdir(path.dirname(final), { recursive: true, mode: 0o750 });
    try {
      await rename(tmp, final);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A concurrent install of the same kernel finished first; its copy is as good.
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        await rm(tmp, { recursive: true, force: true });
        return;
      }
      if (code !== 'ENOENT' || attempt >= 3) throw err;
    }
  }
}

function checkSource(f: FileFd, ownerOk: OwnerCheck, limit: number, what: string): void {
  const st = fstatSync(f.fd);
  if (!st.isFile()) throw new FailedPreconditionError('NOT_A_REGULAR_FILE', `kernel ${what} is not a regular file`, { fields: { field: 'kernel' } });
  if (!ownerOk(st.uid)) throw new FailedPreconditionError('UNSAFE_OWNER', `kernel ${what} is owned by uid ${st.uid}, neither the caller nor root`, { fields: { field: 'kernel' } });
  if (st.nlink !== 1) throw new FailedPreconditionError('UNSAFE_LINK', `kernel ${what} has ${st.nlink} hard links`, { fields: { field: 'kernel' } });
  if (st.size > limit) throw new FailedPreconditionError('FILE_TOO_LARGE', `kernel ${what} is ${st.size} bytes, more than ${limit}`, { fields: { field: 'kernel' } });
}

const readAt = promisify(read);
const writeAt = promisify(write);

/**
 * Copies at most `limit` bytes fd→fd (never trusting the source's size), hashing what was
 * written; asynchronous, so a kernel install does not stall privhelper's other verbs.
 */
async function copyHashing(from: number, to: number, limit: number): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let total = 0;
  for (;;) {
    const { bytesRead: n } = await readAt(from, buf, 0, buf.length, null);
    if (n === 0) break;
    total += n;
    if (total > limit) throw new FailedPreconditionError('FILE_TOO_LARGE', `kernel artifact grew past ${limit} bytes while being copied`, { fields: { field: 'kernel' } });
    h.update(buf.subarray(0, n));
    let off = 0;
    while (off < n) off += (await writeAt(to, buf, off, n - off)).bytesWritten;
  }
  return { bytes: total, sha256: h.digest('hex') };
}
