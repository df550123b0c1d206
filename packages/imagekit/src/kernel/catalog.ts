import { readFile } from 'node:fs/promises';
import { ImageKitError } from '../errors.js';

export type Hypervisor = 'qemu' | 'firecracker';
export const HYPERVISORS: readonly Hypervisor[] = ['qemu', 'firecracker'];

/** Artifacts whose sha256 a catalog entry may pin. */
export const PINNABLE = ['deb', 'vmlinuz', 'vmlinux', 'config'] as const;
export type PinnableArtifact = (typeof PINNABLE)[number];

/** Modules that make a Debian kernel see virtio-mmio disks/NICs/consoles/vsock; order matters. */
export const DEFAULT_INITRAMFS_MODULES: readonly string[] = [
  'virtio_ring', 'virtio', 'virtio_mmio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci',
  'virtio_blk', 'failover', 'net_failover', 'virtio_net', 'virtio_console', 'virtio-rng', 'vsock',
  'vmw_vsock_virtio_transport_common', 'vmw_vsock_virtio_transport', 'button', 'evdev',
];

export interface KernelCatalogEntry {
  name: string;
  description: string;
  /** e.g. debian-bookworm-cloud-amd64: the family the entry tracks, not one build. */
  flavour: string;
  source: { kind: 'apt'; package: string; suite: string; version?: string };
  sha256: Partial<Record<PinnableArtifact, string>>;
  hypervisors: Hypervisor[];
  initramfsModules: string[];
}

export interface KernelCatalog {
  kernels: KernelCatalogEntry[];
}

const NAME_RE = /^[a-z0-9][a-z0-9.-]{0,62}$/;
const PKG_RE = /^[a-z0-9][a-z0-9+.-]{1,100}$/;
const VERSION_RE = /^[A-Za-z0-9.+~:-]{1,100}$/;
const SHA_RE = /^[0-9a-f]{64}$/;
const MODULE_RE = /^[A-Za-z0-9_-]{1,64}$/;

function bad(entry: string, field: string, why: string): ImageKitError {
  return new ImageKitError('INVALID_ARGUMENT', 'BAD_CATALOG', `kernel catalog entry ${entry}: ${field} ${why}`, {
    entry,
    field,
  });
}

function str(o: Record<string, unknown>, key: string, entry: string, re?: RegExp): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw bad(entry, key, 'must be a non-empty string');
  if (re && !re.test(v)) throw bad(entry, key, `has invalid value ${JSON.stringify(v)}`);
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseEntry(raw: unknown, index: number): KernelCatalogEntry {
  const label = `#${index}`;
  if (!isRecord(raw)) throw bad(label, 'entry', 'must be an object');
  const name = str(raw, 'name', label, NAME_RE);
  const flavour = str(raw, 'flavour', name, NAME_RE);
  const src = raw['source'];
  if (!isRecord(src)) throw bad(name, 'source', 'must be an object');
  if (src['kind'] !== 'apt') throw bad(name, 'source.kind', 'must be "apt"');
  const source: KernelCatalogEntry['source'] = {
    kind: 'apt',
    package: str(src, 'package', name, PKG_RE),
    suite: str(src, 'suite', name, NAME_RE),
  };
  if (src['version'] !== undefined) source.version = str(src, 'version', name, VERSION_RE);
  const shaRaw = raw['sha256'] ?? {};
  if (!isRecord(shaRaw)) throw bad(name, 'sha256', 'must be an object');
  const sha256: KernelCatalogEntry['sha256'] = {};
  for (const [k, v] of Object.entries(shaRaw)) {
    if (!(PINNABLE as readonly string[]).includes(k)) throw bad(name, `sha256.${k}`, 'is not a known artifact');
    if (typeof v !== 'string' || !SHA_RE.test(v)) throw bad(name, `sha256.${k}`, 'must be 64 lowercase hex digits');
    sha256[k as PinnableArtifact] = v;
  }
  const hv = raw['hypervisors'];
  if (!Array.isArray(hv) || hv.length === 0) throw bad(name, 'hypervisors', 'must be a non-empty array');
  for (const h of hv) {
    if (!(HYPERVISORS as readonly unknown[]).includes(h)) throw bad(name, 'hypervisors', `has unknown ${String(h)}`);
  }
  const mods = raw['initramfsModules'] ?? DEFAULT_INITRAMFS_MODULES;
  if (!Array.isArray(mods) || !mods.every((m) => typeof m === 'string' && MODULE_RE.test(m))) {
    throw bad(name, 'initramfsModules', 'must be an array of module names');
  }
  const description = typeof raw['description'] === 'string' ? raw['description'] : '';
  return {
    name,
    description,
    flavour,
    source,
    sha256,
    hypervisors: hv as Hypervisor[],
    initramfsModules: mods as string[],
  };
}

/** Parses and validates a catalog document; a bad entry fails the whole catalog loudly. */
export function parseKernelCatalog(text: string): KernelCatalog {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ImageKitError('INVALID_ARGUMENT', 'BAD_CATALOG', `kernel catalog is not JSON: ${(e as Error).message}`);
  }
  if (!isRecord(doc) || doc['schema'] !== 1 || !Array.isArray(doc['kernels'])) {
    throw new ImageKitError('INVALID_ARGUMENT', 'BAD_CATALOG', 'kernel catalog needs schema 1 and a kernels array');
  }
  const kernels = doc['kernels'].map(parseEntry);
  const seen = new Set<string>();
  for (const k of kernels) {
    if (seen.has(k.name)) throw bad(k.name, 'name', 'is duplicated');
    seen.add(k.name);
  }
  return { kernels };
}

export async function loadKernelCatalog(file: string): Promise<KernelCatalog> {
  return parseKernelCatalog(await readFile(file, 'utf8'));
}

export function findKernel(catalog: KernelCatalog, name: string): KernelCatalogEntry {
  const k = catalog.kernels.find((e) => e.name === name);
  if (!k) {
    throw new ImageKitError('NOT_FOUND', 'KERNEL_NOT_IN_CATALOG', `no kernel named ${JSON.stringify(name)} in the catalog`, {
      name,
    });
  }
  return k;
}
