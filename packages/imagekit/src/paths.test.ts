import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confinePath, validateRecipeName } from './paths.js';

let base: string;
let root: string;
let outside: string;
beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'imagekit-paths-'));
  root = path.join(base, 'state');
  outside = path.join(base, 'elsewhere');
  await mkdir(path.join(root, 'images'), { recursive: true });
  await mkdir(outside);
  await symlink(outside, path.join(root, 'escape'));
  await symlink(path.join(root, 'images'), path.join(root, 'inner-link'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

const escape = { kind: 'INVALID_ARGUMENT', reason: 'PATH_ESCAPE' };

describe('confinePath', () => {
  it('accepts relative and absolute paths inside the root, existing or not', async () => {
    expect(await confinePath(root, 'images/a.ext4')).toBe(path.join(root, 'images/a.ext4'));
    expect(await confinePath(root, path.join(root, 'new/dir/x'))).toBe(path.join(root, 'new/dir/x'));
    expect(await confinePath(root, 'inner-link/x')).toBe(path.join(root, 'inner-link/x'));
  });

  it('rejects .. components even when they would stay inside', async () => {
    await expect(confinePath(root, '../elsewhere/x')).rejects.toMatchObject(escape);
    await expect(confinePath(root, 'images/../images/x')).rejects.toMatchObject(escape);
  });

  it('rejects absolute paths outside the root, including prefix look-alikes', async () => {
    await expect(confinePath(root, '/etc/passwd')).rejects.toMatchObject(escape);
    await expect(confinePath(root, `${root}-evil/x`)).rejects.toMatchObject(escape);
  });

  it('rejects symlink escapes', async () => {
    await expect(confinePath(root, 'escape/x.ext4')).rejects.toMatchObject(escape);
    await expect(confinePath(root, 'escape')).rejects.toMatchObject(escape);
  });

  it('rejects empty paths and NUL bytes', async () => {
    await expect(confinePath(root, '')).rejects.toMatchObject(escape);
    await expect(confinePath(root, 'a\0b')).rejects.toMatchObject(escape);
  });
});

describe('validateRecipeName', () => {
  it.each(['debian-bookworm', 'a', '0x', 'a'.repeat(63)])('accepts %s', (n) => {
    expect(validateRecipeName(n)).toBe(n);
  });
  it.each(['', '-x', 'Debian', '../etc', 'a/b', 'a b', 'a'.repeat(64), 'a_b'])('rejects %j', (n) => {
    expect(() => validateRecipeName(n)).toThrow(expect.objectContaining({ kind: 'INVALID_ARGUMENT', reason: 'BAD_RECIPE_NAME' }));
  });
});
