import { chmod, chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { toBangerError, type BangerError } from '@banger/runtime/errors';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkInstallPrefix, INSTALL_PREFIX } from './install-prefix.js';

const asRoot = process.getuid?.() === 0;
if (!asRoot) console.warn('[skip] checkInstallPrefix tests: need root (they chown files to other uids)');

const NOBODY = 65534;

function refusal(prefix: string): BangerError {
  try {
    checkInstallPrefix(prefix);
  } catch (err) {
    return toBangerError(err);
  }
  throw new Error(`expected ${prefix} to be refused`);
}

describe.skipIf(!asRoot)('checkInstallPrefix (a real tree under a temp dir)', () => {
  let tmp = '';
  let prefix = '';

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'banger-prefix-'));
    await chmod(tmp, 0o755);
    prefix = path.join(tmp, 'banger');
    for (const d of ['services/privhelper/src', 'images/recipes/debian', 'node_modules/x', '.git/objects']) await mkdir(path.join(prefix, d), { recursive: true, mode: 0o755 });
    await writeFile(path.join(prefix, 'services/privhelper/src/main.ts'), 'code');
    await writeFile(path.join(prefix, 'images/recipes/debian/recipe.json'), '{}');
    await writeFile(path.join(prefix, 'node_modules/x/index.js'), 'code');
  });
  afterEach(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it('points at the checkout privhelper runs from', () => {
    expect(path.join(INSTALL_PREFIX, 'services', 'privhelper', 'src', 'adapters', 'fs')).toBe(import.meta.dirname);
  });

  it('accepts a root-owned tree nobody else can write', () => {
    expect(() => checkInstallPrefix(prefix)).not.toThrow();
  });

  it('refuses a tree with one file owned by another uid, deep inside, naming it and the fix', async () => {
    const planted = path.join(prefix, 'node_modules/x/index.js');
    await chown(planted, NOBODY, NOBODY);
    const e = refusal(prefix);
    expect(e).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'INSTALL_PREFIX_UNSAFE', fields: { path: planted } });
    expect(e.message).toMatch(new RegExp(`owned by uid ${NOBODY}`));
    expect(e.fields['fix']).toBe(`chown -R root:root ${prefix} && chmod -R go-w ${prefix}`);
  });

  it('refuses a group-writable recipe, and a prefix whose parent another uid owns', async () => {
    await chmod(path.join(prefix, 'images/recipes/debian/recipe.json'), 0o664);
    expect(refusal(prefix)).toMatchObject({ reason: 'INSTALL_PREFIX_UNSAFE', fields: { path: path.join(prefix, 'images/recipes/debian/recipe.json') } });
    await chmod(path.join(prefix, 'images/recipes/debian/recipe.json'), 0o644);
    await chown(tmp, NOBODY, NOBODY);
    expect(refusal(prefix)).toMatchObject({ reason: 'INSTALL_PREFIX_UNSAFE', fields: { path: tmp } });
  });

  it('does not look inside .git, which root never runs', async () => {
    await writeFile(path.join(prefix, '.git/objects/pack'), 'x');
    await chown(path.join(prefix, '.git/objects/pack'), NOBODY, NOBODY);
    expect(() => checkInstallPrefix(prefix)).not.toThrow();
  });

  it('follows a link out of the tree: its target must be root-owned and in a root-only directory', async () => {
    const outside = path.join(tmp, 'elsewhere');
    await mkdir(outside, { mode: 0o755 });
    await writeFile(path.join(outside, 'hook.js'), 'code');
    await symlink(path.join(outside, 'hook.js'), path.join(prefix, 'node_modules/x/hook.js'));
    await symlink('index.js', path.join(prefix, 'node_modules/x/inside.js'));
    expect(() => checkInstallPrefix(prefix)).not.toThrow();
    await chown(path.join(outside, 'hook.js'), NOBODY, NOBODY);
    expect(refusal(prefix)).toMatchObject({ reason: 'INSTALL_PREFIX_UNSAFE', fields: { path: path.join(prefix, 'node_modules/x/hook.js') } });
    await chown(path.join(outside, 'hook.js'), 0, 0);
    await chmod(outside, 0o777);
    expect(refusal(prefix).message).toMatch(/links to .*hook\.js/);
  });
});
