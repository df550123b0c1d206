import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/daemons.js';
import { securityUnavailableReason } from './harness.js';
import { ensureBangerAccount, type Account } from './lib/account.js';

/**
 * Issue 11, item 9: privhelper runs the code and recipes of the install prefix as root, so
 * whoever can write the prefix is root. `banger system install` must refuse a prefix that is
 * not root-owned or is writable by group or others. Run with `--root` into a throwaway tree:
 * no account, unit or directory of the host is touched.
 *
 * v2: unchanged (this is the CLI, not the helper API).
 */
const skip = await securityUnavailableReason();
if (skip) console.warn(`[skip] security: install prefix: ${skip}`);

function install(root: string, prefix: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'clients', 'cli', 'bin', 'banger.mjs'), 'system', 'install', '--root', root, '--prefix', prefix], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

/** A directory that looks like a banger checkout to `system install`. */
async function fakePrefix(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'services', 'vmd', 'bin'), { recursive: true });
  await writeFile(path.join(dir, 'services', 'vmd', 'bin', 'vmd.mjs'), '// stand-in\n');
}

describe.skipIf(skip !== undefined)('security: banger system install refuses an install prefix others can write', () => {
  let top: string;
  let account: Account;

  beforeAll(async () => {
    account = await ensureBangerAccount();
    top = await mkdtemp(path.join(tmpdir(), 'banger-prefix-'));
    await chmod(top, 0o755);
  });
  afterAll(async () => {
    if (top) await rm(top, { recursive: true, force: true });
  });

  it('a prefix owned by the banger user is refused, naming it', async () => {
    const prefix = path.join(top, 'owned-by-banger');
    await fakePrefix(prefix);
    await chown(prefix, account.uid, account.gid);
    const r = await install(path.join(top, 'root-a'), prefix);
    expect({ code: r.code === 0 ? 0 : 'refused', namesPrefix: r.out.includes(prefix) }, r.out.slice(-1500)).toEqual({ code: 'refused', namesPrefix: true });
  });

  it('a root-owned prefix that is world-writable is refused, naming it', async () => {
    const prefix = path.join(top, 'world-writable');
    await fakePrefix(prefix);
    await chmod(prefix, 0o777);
    const r = await install(path.join(top, 'root-b'), prefix);
    expect({ code: r.code === 0 ? 0 : 'refused', namesPrefix: r.out.includes(prefix) }, r.out.slice(-1500)).toEqual({ code: 'refused', namesPrefix: true });
  });
});
