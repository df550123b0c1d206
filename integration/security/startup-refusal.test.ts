import { chmod, chown, mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { applyLayout } from '@banger/config';
import { afterAll, describe, expect, it } from 'vitest';
import { securityUnavailableReason, useHarness, type SecurityHarness, type StartRefusal } from './harness.js';
import { evidence } from './lib/evidence.js';

/**
 * Issue 11, Deliver 1: privhelper refuses to start when a root it writes into
 * (`<state>/helper`, `<cache>/helper`, `<run>/helper` and what the layout puts under them), or
 * any directory above one, is owned or writable by another uid, naming the path and the fix.
 * Each case stops privhelper, gives the tree one flaw (as an older layout would, or as the
 * attacker can where the shared run dir lets it), starts privhelper and reads its log; the
 * tree is then laid out again. v1 had no such check (it started on a banger-owned layout).
 */
const skip = await securityUnavailableReason();
if (skip) console.warn(`[skip] security: start-up refusals: ${skip}`);

interface Flaw {
  readonly name: string;
  /** The path privhelper must name. */
  readonly path: (h: SecurityHarness) => string;
  /** Words the fix must contain. */
  readonly fix: RegExp;
  readonly apply: (h: SecurityHarness) => Promise<void>;
  readonly undo?: (h: SecurityHarness) => Promise<void>;
}

const banger = (h: SecurityHarness, p: string): Promise<void> => chown(p, h.account.uid, h.account.gid);

const FLAWS: readonly Flaw[] = [
  {
    name: '<state> owned by banger (the v1 layout)',
    path: (h) => h.stateDir,
    fix: /banger system upgrade.*chown root:0 \S+ && chmod 0755/,
    apply: (h) => banger(h, h.stateDir),
  },
  {
    name: '<cache> writable by group banger',
    path: (h) => h.cacheDir,
    fix: /chown root:0 \S+ && chmod 0755/,
    apply: async (h) => {
      await chown(h.cacheDir, 0, h.account.gid);
      await chmod(h.cacheDir, 0o775);
    },
  },
  {
    name: '<run> group-writable without the sticky bit',
    path: (h) => h.runDir,
    // The run dir must stay group-writable and sticky: the daemons bind their sockets there.
    fix: /chmod 1775/,
    apply: (h) => chmod(h.runDir, 0o775),
  },
  {
    name: 'a directory above the tops (the tree itself) owned by banger',
    path: (h) => h.tree.top,
    fix: /root-owned|chown/,
    apply: (h) => banger(h, h.tree.top),
  },
  {
    name: '<state>/helper owned by banger',
    path: (h) => h.helper.stateRoot,
    fix: /rm -rf|banger system upgrade/,
    apply: (h) => banger(h, h.helper.stateRoot),
  },
  {
    name: '<cache>/helper/debootstrap owned by banger (an old shared cache)',
    path: (h) => h.helper.debootstrapCache,
    fix: /rm -rf|banger system upgrade/,
    apply: (h) => banger(h, h.helper.debootstrapCache),
  },
  {
    name: '<state>/helper/vms replaced by a symlink',
    path: (h) => h.helper.vmsDir,
    fix: /rm -rf/,
    apply: async (h) => {
      await rm(h.helper.vmsDir, { recursive: true, force: true });
      await symlink(h.launch.home, h.helper.vmsDir);
    },
    undo: (h) => rm(h.helper.vmsDir, { force: true }),
  },
  {
    name: '<run>/helper made by the attacker while missing (the run dir is group-writable and sticky)',
    path: (h) => h.helper.runRoot,
    fix: /rm -rf|banger system upgrade/,
    apply: async (h) => {
      await rm(h.helper.runRoot, { recursive: true, force: true });
      await h.attacker.mkdir(path.join(h.helper.runRoot, 'vms'), 0o777);
    },
    undo: (h) => rm(h.helper.runRoot, { recursive: true, force: true }),
  },
  {
    name: '<run>/helper made by the attacker as a symlink to a root-owned directory',
    path: (h) => h.helper.runRoot,
    fix: /rm -rf/,
    apply: async (h) => {
      await rm(h.helper.runRoot, { recursive: true, force: true });
      await h.attacker.symlink('/var/lib', h.helper.runRoot);
    },
    undo: (h) => rm(h.helper.runRoot, { force: true }),
  },
];

describe.skipIf(skip !== undefined)('security: privhelper refuses to start on an unsafe layout', () => {
  const ctx = useHarness();
  afterAll(async () => {
    // Leave a running helper for the harness's own close.
    await ctx.h.restartPrivhelper();
  });

  /** Lays the tree out again as the layout says (what `banger system install` or an upgrade would do). */
  async function relayout(h: SecurityHarness): Promise<void> {
    await chown(h.tree.top, 0, 0);
    await chmod(h.tree.top, 0o755);
    await mkdir(h.helper.runRoot, { recursive: true });
    applyLayout(h.layout, { daemonUid: h.account.uid, daemonGid: h.account.gid, clientGid: h.account.gid });
  }

  for (const flaw of FLAWS) {
    it(`${flaw.name}: refused, naming the path and the fix`, async () => {
      const { h } = ctx;
      const v = await h.victims();
      const before = await h.hostSnapshot(v);
      await h.stack.stop('privhelper');
      await flaw.apply(h);
      let refusal: StartRefusal | undefined;
      try {
        refusal = await h.startExpectingRefusal();
      } finally {
        await flaw.undo?.(h);
        await relayout(h);
      }
      const seen = refusal ? `exit ${refusal.exitCode}; ${refusal.reason}: ${refusal.message}; path=${refusal.path}; fix=${refusal.fix}` : 'privhelper started';
      evidence(seen);
      expect(refusal, seen).toBeDefined();
      expect({ exit: refusal?.exitCode, reason: refusal?.reason, path: refusal?.path }, seen).toEqual({ exit: 1, reason: 'HELPER_ROOT_UNSAFE', path: flaw.path(h) });
      expect(refusal?.fix, seen).toMatch(flaw.fix);
      expect(refusal?.message, seen).toContain(flaw.path(h));
      expect(await h.hostChanges(v, before)).toEqual([]);
    });
  }

  it('control: the same tree laid out again starts', async () => {
    const { h } = ctx;
    const r = await h.restartPrivhelper();
    evidence(r.started ? 'started' : `failed: ${r.error ?? ''}`);
    expect(r).toEqual({ started: true });
  });
});
