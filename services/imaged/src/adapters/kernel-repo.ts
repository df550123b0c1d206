import { KernelStore, type Db, type KernelRecord } from '@banger/store';
import type { Kernel, KernelFile } from '../domain/kernel.js';
import type { KernelRepo, StagedKernel } from '../ports/images.js';

function file(paths: Record<string, string>, meta: Record<string, unknown>, key: string): KernelFile {
  const f = (meta['files'] as Record<string, { sha256?: string; sizeBytes?: number }> | undefined)?.[key];
  return { path: paths[key] ?? '', sha256: f?.sha256 ?? '', sizeBytes: f?.sizeBytes ?? 0 };
}

export function kernelFromRecord(r: KernelRecord): Kernel {
  const m = r.metadata;
  return {
    id: r.id,
    name: r.name,
    release: r.version,
    package: typeof m['package'] === 'string' ? m['package'] : '',
    packageVersion: typeof m['packageVersion'] === 'string' ? m['packageVersion'] : '',
    hypervisors: Array.isArray(m['hypervisors']) ? (m['hypervisors'] as string[]) : [],
    fingerprint: r.fingerprint,
    dir: r.paths['dir'] ?? '',
    modulesDir: r.paths['modules'] ?? '',
    vmlinux: file(r.paths, m, 'vmlinux'),
    vmlinuz: file(r.paths, m, 'vmlinuz'),
    initrd: file(r.paths, m, 'initrd'),
    installedAt: r.updatedAt,
  };
}

function rowOf(k: StagedKernel): { paths: Record<string, string>; metadata: Record<string, unknown> } {
  const files: Record<string, { sha256: string; sizeBytes: number }> = {};
  for (const key of ['vmlinux', 'vmlinuz', 'initrd'] as const) files[key] = { sha256: k[key].sha256, sizeBytes: k[key].sizeBytes };
  return {
    paths: { dir: k.dir, modules: k.modulesDir, vmlinux: k.vmlinux.path, vmlinuz: k.vmlinuz.path, initrd: k.initrd.path },
    metadata: { package: k.package, packageVersion: k.packageVersion, hypervisors: k.hypervisors, files },
  };
}

/** The kernel port over the store's KernelStore; moving a row to a new version (new fingerprint) is one UPDATE here. */
export class PgKernelRepo implements KernelRepo {
  private readonly store: KernelStore;

  constructor(private readonly db: Db) {
    this.store = new KernelStore(db);
  }

  async list(): Promise<Kernel[]> {
    return (await this.store.list()).map(kernelFromRecord);
  }

  async findByName(name: string): Promise<Kernel | null> {
    const { rows } = await this.db.query<{ id: string }>('SELECT id FROM imaged.kernels WHERE name = $1', [name]);
    return rows[0] ? kernelFromRecord(await this.store.getById(rows[0].id)) : null;
  }

  async getById(id: string): Promise<Kernel> {
    return kernelFromRecord(await this.store.getById(id));
  }

  async save(k: StagedKernel, id: string): Promise<Kernel> {
    const { paths, metadata } = rowOf(k);
    const existing = await this.findByName(k.name);
    if (!existing) return kernelFromRecord(await this.store.insert({ id, name: k.name, version: k.release, fingerprint: k.fingerprint, paths, metadata }));
    await this.db.query('UPDATE imaged.kernels SET fingerprint = $2, updated_at = now() WHERE id = $1', [existing.id, k.fingerprint]);
    return kernelFromRecord(await this.store.update(existing.id, { version: k.release, paths, metadata }));
  }

  async delete(id: string): Promise<void> {
    await this.store.delete(id);
  }
}
