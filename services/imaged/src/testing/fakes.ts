import { FailedPreconditionError, NotFoundError, type OpEventBody } from '@banger/runtime';
import type { Image } from '../domain/image.js';
import type { Kernel } from '../domain/kernel.js';
import type { OperationHandle } from '@banger/operations';
import type { ImageFiles, ImageRepo, KernelRepo, NewImageRecord, StagedKernel } from '../ports/images.js';

export function sampleKernel(over: Partial<Kernel> = {}): Kernel {
  const dir = '/state/kernels/debian-bookworm-cloud/6.1.1-1';
  return {
    id: 'k-1',
    name: 'debian-bookworm-cloud',
    release: '6.1.0-1-cloud-amd64',
    package: 'linux-image-6.1.0-1-cloud-amd64',
    packageVersion: '6.1.1-1',
    hypervisors: ['qemu'],
    fingerprint: 'f'.repeat(64),
    dir,
    modulesDir: `${dir}/modules`,
    vmlinux: { path: `${dir}/vmlinux`, sha256: 'a'.repeat(64), sizeBytes: 30 },
    vmlinuz: { path: `${dir}/vmlinuz`, sha256: 'b'.repeat(64), sizeBytes: 10 },
    initrd: { path: `${dir}/initrd.img`, sha256: 'c'.repeat(64), sizeBytes: 2 },
    installedAt: new Date('2026-01-01T00:00:00Z'),
    ...over,
  };
}

export function sampleImage(over: Partial<Image> = {}): Image {
  const dir = '/state/images/debian-bookworm-0123456789abcdef';
  const kdir = '/state/kernels/debian-bookworm-cloud/6.1.1-1';
  return {
    id: '11111111-2222-3333-4444-555555555555',
    name: 'debian-bookworm',
    recipe: 'debian-bookworm',
    fingerprint: '0123456789abcdef'.repeat(4),
    initMode: 'minimal',
    inits: { systemd: '/sbin/init', minimal: '/sbin/banger-init' },
    kernelArgs: ['net.ifnames=0', 'quiet'],
    kernel: { id: 'k-1', name: 'debian-bookworm-cloud', release: '6.1.0-1-cloud-amd64', packageVersion: '6.1.1-1' },
    paths: { dir, rootfs: `${dir}/rootfs.ext4`, workSeed: `${dir}/work-seed.ext4`, kernelDir: kdir, vmlinux: `${kdir}/vmlinux`, initrd: `${kdir}/initrd.img` },
    rootfsBytes: 1 << 30,
    workSeedFingerprint: '9'.repeat(32),
    services: [{ name: 'opencode', port: 4096, secretEnv: 'OPENCODE_SERVER_PASSWORD', readiness: { kind: 'tcp', port: 4096, timeoutSeconds: 180 } }],
    sourceVmId: null,
    createdAt: new Date('2026-01-02T00:00:00Z'),
    lastUsedAt: null,
    ...over,
  };
}

/** In-memory ImageRepo with the store's ref rules (id, name, unique id prefix). */
export class MemoryImageRepo implements ImageRepo {
  readonly rows = new Map<string, Image>();
  constructor(images: Image[] = []) {
    for (const i of images) this.rows.set(i.id, i);
  }
  async list(): Promise<Image[]> {
    return [...this.rows.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
  async findByRef(ref: string): Promise<Image> {
    const all = [...this.rows.values()];
    const hit = all.find((i) => i.id === ref || i.name === ref) ?? (all.filter((i) => i.id.startsWith(ref)).length === 1 ? all.find((i) => i.id.startsWith(ref)) : undefined);
    if (!hit) throw new NotFoundError('image', ref, 'IMAGE_NOT_FOUND');
    return hit;
  }
  async findByName(name: string): Promise<Image | null> {
    return [...this.rows.values()].find((i) => i.name === name) ?? null;
  }
  async findByFingerprint(fp: string): Promise<Image | null> {
    return [...this.rows.values()].find((i) => i.fingerprint === fp) ?? null;
  }
  async insert(image: NewImageRecord, displace?: { id: string; name: string }): Promise<Image> {
    if (displace) {
      const old = this.rows.get(displace.id);
      if (old) this.rows.set(old.id, { ...old, name: displace.name });
    }
    const row: Image = { ...image, createdAt: new Date(), lastUsedAt: null };
    this.rows.set(row.id, row);
    return row;
  }
  async setWorkSeedFingerprint(id: string, fingerprint: string): Promise<Image> {
    const row = { ...(await this.findByRef(id)), workSeedFingerprint: fingerprint };
    this.rows.set(id, row);
    return row;
  }
  async touch(id: string): Promise<void> {
    const row = await this.findByRef(id);
    this.rows.set(id, { ...row, lastUsedAt: new Date() });
  }
  async delete(id: string): Promise<void> {
    if (!this.rows.delete(id)) throw new NotFoundError('image', id, 'IMAGE_NOT_FOUND');
  }
}

export class MemoryKernelRepo implements KernelRepo {
  readonly rows = new Map<string, Kernel>();
  constructor(kernels: Kernel[] = []) {
    for (const k of kernels) this.rows.set(k.id, k);
  }
  async list(): Promise<Kernel[]> {
    return [...this.rows.values()];
  }
  async findByName(name: string): Promise<Kernel | null> {
    return [...this.rows.values()].find((k) => k.name === name) ?? null;
  }
  async getById(id: string): Promise<Kernel> {
    const k = this.rows.get(id);
    if (!k) throw new NotFoundError('kernel', id, 'KERNEL_NOT_FOUND');
    return k;
  }
  async save(k: StagedKernel, id: string): Promise<Kernel> {
    const row: Kernel = { ...k, id, installedAt: new Date() };
    this.rows.set(id, row);
    return row;
  }
  async delete(id: string): Promise<void> {
    this.rows.delete(id);
  }
}

/** Files that "exist" are the ones listed; removals and seed reads are recorded. */
/** privhelper's kernel store as a list of installs. */
export class FakeInstaller {
  readonly installed: string[] = [];
  readonly removed: string[] = [];
  async installKernel(k: { name: string; packageVersion: string }): Promise<void> {
    this.installed.push(`${k.name}@${k.packageVersion}`);
  }
  async removeKernel(k: { name: string; packageVersion: string }): Promise<void> {
    this.removed.push(`${k.name}@${k.packageVersion}`);
  }
}

export class FakeImageFiles implements Pick<ImageFiles, 'exists' | 'remove' | 'seedFingerprint'> {
  readonly removed: string[] = [];
  readonly seedReads: string[] = [];
  /** Directories privhelper would refuse to remove (a VM disk is based on them). */
  readonly inUse = new Set<string>();
  constructor(
    readonly present: Set<string>,
    readonly seedFp = 'e'.repeat(32),
  ) {}
  async exists(p: string): Promise<boolean> {
    return this.present.has(p);
  }
  async remove(dir: string): Promise<void> {
    if (this.inUse.has(dir)) throw new FailedPreconditionError('IMAGE_IN_USE', `image ${dir} backs a VM disk`);
    this.removed.push(dir);
  }
  async seedFingerprint(p: string): Promise<string> {
    this.seedReads.push(p);
    return this.seedFp;
  }
}

/** An OperationHandle that keeps the events it is given. */
export function recordingHandle(opId = 'op-test00000000'): OperationHandle & { events: OpEventBody[]; resources: Map<string, string>; controller: AbortController } {
  const events: OpEventBody[] = [];
  const resources = new Map<string, string>();
  const controller = new AbortController();
  return {
    opId,
    signal: controller.signal,
    controller,
    events,
    resources,
    emit: async (e) => {
      events.push(e);
    },
    recordResource: async (kind, ref) => {
      resources.set(`${kind}:${ref}`, ref);
    },
    releaseResource: async (kind, ref) => {
      resources.delete(`${kind}:${ref}`);
    },
  };
}
