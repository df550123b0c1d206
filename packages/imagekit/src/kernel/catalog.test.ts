import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isImageKitError } from '../errors.js';
import { DEFAULT_IMAGES_DIR } from '../layout.js';
import { DEFAULT_INITRAMFS_MODULES, findKernel, parseKernelCatalog } from './catalog.js';

const good = {
  name: 'k1',
  flavour: 'debian-bookworm-cloud-amd64',
  source: { kind: 'apt', package: 'linux-image-cloud-amd64', suite: 'bookworm' },
  hypervisors: ['qemu'],
};
const doc = (kernels: unknown[]): string => JSON.stringify({ schema: 1, kernels });

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (isImageKitError(e)) return `${e.kind}/${e.reason}/${e.fields['field'] ?? ''}`;
    throw e;
  }
  return undefined;
}

describe('kernel catalog', () => {
  it('parses the checked-in catalog', async () => {
    const cat = parseKernelCatalog(await readFile(path.join(DEFAULT_IMAGES_DIR, 'kernels.json'), 'utf8'));
    const k = findKernel(cat, 'debian-bookworm-cloud');
    expect(k.source.package).toBe('linux-image-cloud-amd64');
    expect(k.hypervisors).toEqual(['qemu']);
    expect(k.initramfsModules.indexOf('virtio_ring')).toBeLessThan(k.initramfsModules.indexOf('virtio'));
  });

  it('fills defaults for optional fields', () => {
    const [k] = parseKernelCatalog(doc([good])).kernels;
    expect(k?.sha256).toEqual({});
    expect(k?.initramfsModules).toEqual(DEFAULT_INITRAMFS_MODULES);
  });

  it.each([
    ['missing name', { ...good, name: undefined }, 'name'],
    ['bad name', { ...good, name: '../x' }, 'name'],
    ['bad package', { ...good, source: { ...good.source, package: 'x;rm' } }, 'package'],
    ['non-apt source', { ...good, source: { ...good.source, kind: 'http' } }, 'source.kind'],
    ['bad sha', { ...good, sha256: { vmlinuz: 'abc' } }, 'sha256.vmlinuz'],
    ['unknown artifact pin', { ...good, sha256: { initrd2: 'a'.repeat(64) } }, 'sha256.initrd2'],
    ['unknown hypervisor', { ...good, hypervisors: ['vmware'] }, 'hypervisors'],
    ['no hypervisors', { ...good, hypervisors: [] }, 'hypervisors'],
    ['bad module', { ...good, initramfsModules: ['ok', 'bad module'] }, 'initramfsModules'],
  ])('rejects %s', (_label, entry, field) => {
    expect(reasonOf(() => parseKernelCatalog(doc([entry])))).toBe(`INVALID_ARGUMENT/BAD_CATALOG/${field}`);
  });

  it('rejects duplicates, wrong schema and non-JSON', () => {
    expect(reasonOf(() => parseKernelCatalog(doc([good, good])))).toBe('INVALID_ARGUMENT/BAD_CATALOG/name');
    expect(reasonOf(() => parseKernelCatalog(JSON.stringify({ schema: 2, kernels: [] })))).toBe('INVALID_ARGUMENT/BAD_CATALOG/');
    expect(reasonOf(() => parseKernelCatalog('{nope'))).toBe('INVALID_ARGUMENT/BAD_CATALOG/');
  });

  it('reports an unknown kernel as NOT_FOUND', () => {
    expect(() => findKernel(parseKernelCatalog(doc([good])), 'nope')).toThrow(/no kernel named/);
  });
});
