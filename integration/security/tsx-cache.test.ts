import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/daemons.js';
import { securityUnavailableReason, useHarness, type HostSnapshot, type SecurityHarness, type Victims } from './harness.js';
import { evidence } from './lib/evidence.js';

/**
 * Found while porting the suite: every banger process ran its TypeScript through tsx, and
 * tsx keeps a transform cache in `$TMPDIR/tsx-<euid>/` (entries named by a hash of the source
 * and options, nothing secret) and trusts whatever it finds there. Where root's /tmp is the
 * shared one (scripts/daemons.sh, the demo, a root `banger` CLI; the privhelper unit has
 * PrivateTmp=yes), the banger uid can create `/tmp/tsx-0/` before root does and fill it with
 * transformed code of its own. A stand-in for /tmp in the tree (root 1777) is given to
 * privhelper and the CLI as TMPDIR. Safe: no code of the attacker's runs as root. Since the
 * compiled build (issue 17) no launcher loads tsx at all; the planted-cache tests stay as the
 * attack's proof, and the last two check that nothing in production can load tsx.
 */
const skip = await securityUnavailableReason();
if (skip) console.warn(`[skip] security: tsx cache: ${skip}`);

const POISONED = 'services/privhelper/src/adapters/fs/install-prefix.ts';

/** A payload that, run as root, leaves `marker` behind (the attacker cannot write there itself). */
function payload(marker: string): string {
  return `import * as __attackerFs from 'node:fs'; try { __attackerFs.writeFileSync(${JSON.stringify(marker)}, 'written by uid ' + process.getuid() + ' from a planted tsx cache entry\\n'); } catch {}\n`;
}

/**
 * The attacker's preparation, with its own credentials only: it runs tsx over a source file
 * root will load (the prefix is readable), takes the cache entry its own run wrote to
 * `tmp/tsx-<its uid>/`, and puts a copy with the payload prepended into `tmp/tsx-0/`, a
 * directory it made first.
 */
async function plantTransformCache(h: SecurityHarness, tmp: string, source: string, marker: string): Promise<string> {
  const a = h.attacker;
  const rootCache = path.join(tmp, 'tsx-0');
  const mkdirResult = await a.mkdirError(rootCache);
  if (mkdirResult !== 'OK') return `mkdir ${rootCache}: ${mkdirResult}`;
  const script = `await import(${JSON.stringify(path.join(REPO_ROOT, source))})`;
  await a.must('/usr/bin/env', [`TMPDIR=${tmp}`, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT });
  const own = path.join(tmp, `tsx-${h.account.uid}`);
  let planted = 0;
  for (let i = 0; i < 50 && planted === 0; i++) {
    for (const name of await a.readdir(own).catch(() => [] as string[])) {
      const entry = JSON.parse((await a.readFile(path.join(own, name))).toString()) as { code?: string; map?: { sources?: string[] } };
      if (!entry.map?.sources?.includes(path.join(REPO_ROOT, source))) continue;
      await a.writeFile(path.join(rootCache, name), JSON.stringify({ ...entry, code: payload(marker) + entry.code }));
      planted++;
    }
    if (planted === 0) await new Promise((r) => setTimeout(r, 100));
  }
  return `planted ${planted} entr${planted === 1 ? 'y' : 'ies'} in ${rootCache}`;
}

/** The CLI as root with TMPDIR=tmp (an admin's `sudo banger ...` sharing /tmp). */
function rootCli(h: SecurityHarness, tmp: string, args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'clients', 'cli', 'bin', 'banger.mjs'), ...args], { cwd: REPO_ROOT, env: { ...h.stack.env, TMPDIR: tmp }, stdio: 'ignore' });
    child.once('exit', (code) => resolve(code));
  });
}

/** privhelper's direct children that run node, and how: the compiled bundle, or TypeScript (through tsx). */
async function nodeChildren(helperPid: number): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? -1) !== helperPid) continue;
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const script = cmd.find((a) => a.endsWith('.ts') || a.endsWith('.mjs') || a.endsWith('.js'));
    if (script === undefined) continue;
    const compiled = script.endsWith('.mjs') && script.includes('/dist/') && !cmd.some((a) => a.includes('tsx'));
    found.push(`${pid} ${path.relative(REPO_ROOT, script)}: ${compiled ? 'compiled, no tsx' : 'RUNS TYPESCRIPT THROUGH TSX'}`);
  }
  return found;
}

/** The production entry points: each launcher and the bundles it runs (scripts/build.mjs). */
const LAUNCHERS = ['clients/cli/bin/banger.mjs', 'services/vmd/bin/vmd.mjs', 'services/imaged/bin/imaged.mjs', 'services/privhelper/bin/privhelper.mjs'];
const BUNDLE_DIRS = ['clients/cli/dist', 'services/vmd/dist', 'services/imaged/dist', 'services/privhelper/dist'];
/** A static or dynamic import of tsx (or its loader API), or a `--import tsx` handed to a child. */
const LOADS_TSX = /(?:from\s*|import\s*\(\s*)["']tsx(?:\/[^"']*)?["']|["']--import["']\s*,\s*["']tsx["']/;

describe.skipIf(skip !== undefined)("security: tsx's transform cache in a shared /tmp", () => {
  const ctx = useHarness();

  /** A fresh stand-in for /tmp: root-owned, world-writable, sticky. */
  async function sharedTmp(h: SecurityHarness, name: string): Promise<string> {
    const tmp = path.join(h.tree.top, name);
    await mkdir(tmp);
    await chmod(tmp, 0o1777);
    return tmp;
  }

  /** On a real host the banger uid reads the install prefix (vmd and imaged run from it); a test checkout it cannot read skips. */
  function needsReadablePrefix(h: SecurityHarness, t: { skip: (why: string) => void }): void {
    if (h.launch.mode !== 'in-place') t.skip('the banger uid cannot read this checkout, so it cannot compute tsx cache entries for it');
  }

  /** Victims, a fresh stand-in for /tmp, and the attacker's planted cache entry for `source`. */
  async function planted(h: SecurityHarness, who: string, source: string): Promise<{ v: Victims; before: HostSnapshot; tmp: string; marker: string; planted: string }> {
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const tmp = await sharedTmp(h, `tmp-${who}`);
    const marker = path.join(v.dir, `PWNED-${who}`);
    return { v, before, tmp, marker, planted: await plantTransformCache(h, tmp, source, marker) };
  }

  it('a transformed privhelper module planted in <tmp>/tsx-0 is not run by privhelper (as root)', async (t) => {
    const { h } = ctx;
    needsReadablePrefix(h, t);
    const { v, before, tmp, marker, planted: plant } = await planted(h, 'privhelper', POISONED);
    await h.stack.stop('privhelper');
    let started = false;
    try {
      await h.stack.start('privhelper', { env: { TMPDIR: tmp } });
      started = true;
    } finally {
      await h.restartPrivhelper();
    }
    const text = await readFile(marker, 'utf8').catch(() => '');
    const seen = `attacker: ${plant}; privhelper ${started ? 'started' : 'did not start'} with TMPDIR=${path.basename(tmp)}; marker: ${text ? text.trim() : 'absent'}`;
    evidence(seen);
    expect(await h.hostChanges(v, before), seen).toEqual([]);
    expect(started, seen).toBe(true);
  });

  it('the same planted cache is not run by a root banger CLI either', async (t) => {
    const { h } = ctx;
    needsReadablePrefix(h, t);
    const { v, before, tmp, marker, planted: plant } = await planted(h, 'cli', 'clients/cli/src/main.ts');
    const code = await rootCli(h, tmp, ['--help']);
    const text = await readFile(marker, 'utf8').catch(() => '');
    const seen = `attacker: ${plant}; root \`banger --help\` exited ${code}; marker: ${text ? text.trim() : 'absent'}`;
    evidence(seen);
    expect(await h.hostChanges(v, before), seen).toEqual([]);
  });

  /**
   * With the compiled build nothing in production loads tsx, so no tsx cache is ever read:
   * the launchers and every bundle they run import no tsx (privhelper's bundle still names tsx
   * in the from-source branch of the DNS responder's start, behind COMPILED, never taken).
   */
  it('no production launcher or bundle loads tsx', async () => {
    const offenders: string[] = [];
    let bundles = 0;
    for (const f of LAUNCHERS) if (LOADS_TSX.test(await readFile(path.join(REPO_ROOT, f), 'utf8'))) offenders.push(f);
    for (const d of BUNDLE_DIRS) {
      for (const f of (await readdir(path.join(REPO_ROOT, d)).catch(() => [] as string[])).filter((n) => n.endsWith('.mjs'))) {
        bundles++;
        if (LOADS_TSX.test(await readFile(path.join(REPO_ROOT, d, f), 'utf8'))) offenders.push(`${d}/${f}`);
      }
    }
    evidence(`${LAUNCHERS.length} launchers, ${bundles} bundles; loading tsx: ${offenders.length === 0 ? 'none' : offenders.join(', ')}`);
    expect(bundles, 'the bundles are built (the integration globalSetup runs scripts/build.mjs)').toBeGreaterThanOrEqual(5);
    expect(offenders).toEqual([]);
  });

  /**
   * privhelper's node children (the `.vm` DNS responder, as root under `ip netns exec`) get the
   * pinned environment, not privhelper's, and would read tsx's cache from the real /tmp: they
   * must run the compiled bundle, without tsx.
   */
  it("every root node child of privhelper's (the DNS responder) runs the compiled bundle, without tsx", async () => {
    const { h } = ctx;
    const bridge = await h.attacker.call('ensureBridge', { bridge: '', gatewayCidr: '10.214.0.1/24', mtu: 0 });
    expect(bridge.ok, bridge.ok ? '' : bridge.err.details).toBe(true);
    const helperPid = h.privhelperPid;
    let found: string[] = [];
    // The responder starts with the bridge's gateway address; give it a moment to appear.
    for (let i = 0; i < 50 && found.length === 0; i++) {
      found = await nodeChildren(helperPid);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    evidence(found.join('; '));
    expect(found.length, 'the DNS responder was found').toBeGreaterThanOrEqual(1);
    expect(found.filter((f) => !f.endsWith('compiled, no tsx')), found.join('\n')).toEqual([]);
  });
});
