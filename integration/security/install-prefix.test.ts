import { spawn } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bangerAccount, type Account } from '../harness/accounts.js';
import { REPO_ROOT, type LogRecord } from '../harness/daemons.js';
import { securityUnavailableReason, useHarness } from './harness.js';
import { evidence } from './lib/evidence.js';

/**
 * Issue 11, item 9: privhelper runs the code and recipes of its install prefix as root, so
 * whoever can write the prefix is root. v1 installed from any prefix and started from it. v2:
 * `banger system install` refuses a prefix that is not root-owned or is writable by group or
 * others (run with `--root` into a throwaway tree: nothing of the host is touched), and
 * privhelper itself refuses to start from such a tree.
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
    account = bangerAccount();
    top = await mkdtemp(path.join(tmpdir(), 'banger-prefix-'));
    await chmod(top, 0o755);
  });
  afterAll(async () => {
    if (top) await rm(top, { recursive: true, force: true });
  });

  const cases: [string, (prefix: string) => Promise<void>][] = [
    ['a prefix owned by the banger user', (p) => chown(p, account.uid, account.gid)],
    ['a root-owned prefix that is world-writable', (p) => chmod(p, 0o777)],
    ['a root-owned prefix with one file inside owned by banger', (p) => chown(path.join(p, 'services', 'vmd', 'bin', 'vmd.mjs'), account.uid, account.gid)],
  ];
  for (const [name, spoil] of cases) {
    it(`${name} is refused (non-zero exit), naming the path, and nothing is installed`, async () => {
      const prefix = path.join(top, name.replace(/\W+/g, '-'));
      await fakePrefix(prefix);
      await spoil(prefix);
      const root = path.join(top, `root-${path.basename(prefix)}`);
      const r = await install(root, prefix);
      const staged = await import('node:fs').then((fs) => fs.existsSync(path.join(root, 'etc', 'systemd')));
      evidence(`exit ${r.code}: ${r.out.trim().split('\n').slice(-1)[0]?.slice(0, 300) ?? ''}`);
      expect({ refused: r.code !== 0, namesPrefix: r.out.includes(prefix), staged }, r.out.slice(-1500)).toEqual({ refused: true, namesPrefix: true, staged: false });
    });
  }
});

/** One run of a privhelper from another tree against the harness's config: its log and how it ended. */
function runPrivhelper(prefix: string, env: NodeJS.ProcessEnv): Promise<{ started: boolean; exitCode: number | null; logs: LogRecord[]; stray: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(prefix, 'services', 'privhelper', 'bin', 'privhelper.mjs')], { cwd: prefix, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: LogRecord[] = [];
    let stray = '';
    let buf = '';
    let started = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const rec = JSON.parse(line) as LogRecord;
          logs.push(rec);
          if (rec.msg === 'daemon started') {
            started = true;
            child.kill('SIGTERM');
          }
        } catch {
          stray += line;
        }
      }
    });
    child.stderr.on('data', (c: Buffer) => (stray += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ started, exitCode: code, logs, stray });
    });
  });
}

describe.skipIf(skip !== undefined)('security: privhelper refuses to start from a tree another uid can write', () => {
  const ctx = useHarness();
  let prefix = '';

  beforeAll(async () => {
    // A copy of the checkout's sources (root-owned), sharing the installed node_modules.
    const top = await mkdtemp(path.join(tmpdir(), 'banger-prefix-copy-'));
    await chmod(top, 0o755);
    prefix = path.join(top, 'banger');
    await cp(REPO_ROOT, prefix, { recursive: true, filter: (src) => !/\/(node_modules|\.git)$/.test(src) && !src.includes('/integration/') });
    await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(prefix, 'node_modules'));
    await ctx.h.stack.stop('privhelper');
  });
  afterAll(async () => {
    if (prefix) await rm(path.dirname(prefix), { recursive: true, force: true });
    await ctx.h.restartPrivhelper();
  });

  it('control: the root-owned copy starts', async () => {
    const r = await runPrivhelper(prefix, ctx.h.stack.env);
    evidence(r.started ? 'started from the copy' : `did not start: ${r.stray.slice(0, 300)} ${JSON.stringify(r.logs.at(-1))}`);
    expect(r.started, `${r.stray} ${JSON.stringify(r.logs.slice(-3))}`).toBe(true);
  });

  const spoils: [string, string, (p: string, a: Account) => Promise<void>][] = [
    ['a recipe file owned by banger', 'images/recipes/debian-bookworm/recipe.json', (p, a) => chown(p, a.uid, a.gid)],
    ['a source directory writable by its group', 'services/privhelper/src/adapters', (p) => chmod(p, 0o775)],
    ['the prefix itself owned by banger', '.', (p, a) => chown(p, a.uid, a.gid)],
  ];
  for (const [name, rel, spoil] of spoils) {
    it(`${name}: privhelper exits naming the path and the fix`, async () => {
      const { h } = ctx;
      const target = path.join(prefix, rel);
      await spoil(target, h.account);
      let r: Awaited<ReturnType<typeof runPrivhelper>>;
      try {
        r = await runPrivhelper(prefix, h.stack.env);
      } finally {
        await chown(target, 0, 0);
        await chmod(target, rel === '.' || rel.endsWith('adapters') ? 0o755 : 0o644);
      }
      const line = r.logs.find((l) => l.msg === 'start-up refused');
      const err = (line?.['err'] ?? {}) as { reason?: string; message?: string };
      const seen = `exit ${r.exitCode}; ${err.reason ?? '?'}: ${err.message ?? r.stray.slice(0, 200)}; path=${String(line?.['path'])}; fix=${String(line?.['fix'])}`;
      evidence(seen);
      expect({ started: r.started, exit: r.exitCode, reason: err.reason, path: line?.['path'] }, seen).toEqual({ started: false, exit: 1, reason: 'INSTALL_PREFIX_UNSAFE', path: path.resolve(target) });
      expect(String(line?.['fix']), seen).toContain(`chown -R root:root ${prefix}`);
    });
  }
});
