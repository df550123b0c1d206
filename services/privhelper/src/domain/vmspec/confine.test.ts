import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confine, confineAny, confineLexical } from './confine.js';
import { VmHostError } from './errors.js';

let tmp: string;
let root: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'banger-confine-'));
  root = path.join(tmp, 'state');
  await mkdir(path.join(root, 'images'), { recursive: true });
  await mkdir(path.join(tmp, 'outside'));
  await writeFile(path.join(tmp, 'outside', 'secret'), 'x');
  await writeFile(path.join(root, 'images', 'base.raw'), 'x');
  await symlink(path.join(tmp, 'outside'), path.join(root, 'escape-dir'));
  await symlink(path.join(tmp, 'outside', 'secret'), path.join(root, 'images', 'escape-file'));
  await symlink(path.join(root, 'images'), path.join(root, 'inner-link'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VmHostError);
    expect((err as VmHostError).kind).toBe('INVALID_ARGUMENT');
    return (err as VmHostError).reason;
  }
  return 'NO_ERROR';
}

describe('confineLexical', () => {
  it('accepts relative and absolute paths inside the root', () => {
    expect(confineLexical('/var/lib/banger', 'vms/a/root.qcow2')).toBe('/var/lib/banger/vms/a/root.qcow2');
    expect(confineLexical('/var/lib/banger', '/var/lib/banger/x')).toBe('/var/lib/banger/x');
    expect(confineLexical('/var/lib/banger', '/var/lib/banger/..x')).toBe('/var/lib/banger/..x');
  });
  it.each([
    ['../etc/passwd', 'PATH_ESCAPE'],
    ['vms/../../etc', 'PATH_ESCAPE'],
    ['/etc/passwd', 'PATH_ESCAPE'],
    ['/var/lib/banger-other/x', 'PATH_ESCAPE'],
    ['/var/lib/banger', 'PATH_ESCAPE'],
    ['', 'BAD_FIELD'],
    ['a\0b', 'BAD_FIELD'],
    ['x'.repeat(5000), 'BAD_FIELD'],
  ])('rejects %j', (p, why) => {
    expect(() => confineLexical('/var/lib/banger', p, 'disk')).toThrow(expect.objectContaining({ reason: why, fields: { field: 'disk' } }));
  });
});

describe('confine (realpath)', () => {
  it('accepts an existing file and a not-yet-existing file inside', async () => {
    expect(await confine(root, 'images/base.raw')).toBe(path.join(root, 'images', 'base.raw'));
    expect(await confine(root, 'images/new.qcow2')).toBe(path.join(root, 'images', 'new.qcow2'));
  });
  it('follows symlinks that stay inside the root', async () => {
    expect(await confine(root, 'inner-link/base.raw')).toBe(path.join(root, 'images', 'base.raw'));
  });
  it('rejects a symlinked parent directory pointing outside', async () => {
    expect(await reason(confine(root, 'escape-dir/secret'))).toBe('PATH_ESCAPE');
    expect(await reason(confine(root, 'escape-dir/new-file'))).toBe('PATH_ESCAPE');
  });
  it('rejects a symlinked file pointing outside', async () => {
    expect(await reason(confine(root, 'images/escape-file'))).toBe('PATH_ESCAPE');
  });
  it('rejects a missing parent directory', async () => {
    expect(await reason(confine(root, 'nope/x'))).toBe('PATH_ESCAPE');
  });
  it('confineAny picks the root that contains the path', async () => {
    expect(await confineAny(['/nonexistent', root], path.join(root, 'images', 'base.raw'), 'kernel')).toBe(path.join(root, 'images', 'base.raw'));
    expect(await reason(confineAny([root], 'images/base.raw', 'kernel'))).toBe('PATH_ESCAPE');
  });
});
