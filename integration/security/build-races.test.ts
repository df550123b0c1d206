import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareHandOverTrap } from './attacks/image-dir.js';
import { buildAs, buildSummary } from './attacks/build.js';
import { securityUnavailableReason, useHarness } from './harness.js';

/**
 * Issue 11, items 3 (the `.building-<pid>` directory) and 4 (the hand-over walk): BuildRootfs
 * builds and then lchowns by path inside the caller-owned images dir. The build cache is
 * seeded by root (a previous legitimate build), so nothing poisoned is needed: only the races.
 * Each race keeps its racer running for every attempt, up to a bound.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: build races: ${skip}`);

describe.skipIf(skip !== undefined)('security: races in BuildRootfs output directories', () => {
  const ctx = useHarness({ guest: true, seedBuildCache: 'once' });

  const build = (imagesRoot: string): ReturnType<typeof buildAs> => buildAs(ctx.h, imagesRoot, ctx.h.kernel!.modulesDir);

  /**
   * The build runs in `<images>/<name>.building-<pid>`, a directory root creates in the
   * attacker's images dir. A racer (inotify) renames it away the moment it appears and puts a
   * symlink to the victim dir in its place: root builds into the victim dir, renames the link
   * to the image name, and the hand-over then chowns every entry of the victim dir to banger.
   * An attempt the racer loses just builds an image, which the attacker (its owner after the
   * hand-over) deletes before trying again.
   *
   * v2: builds run in a root-owned directory; the racer, pointed at it, gets EACCES.
   */
  it('.building-<pid> directory swapped for a symlink (inotify, every attempt): the victim directory is unchanged', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const imagesRoot = path.join(h.stateDir, 'images', 'race-building');
    await h.attacker.mkdir(imagesRoot);
    const racer = await h.attacker.racer('steal', [imagesRoot, '.building-', v.dir]);
    const outcomes: string[] = [];
    let changes: string[] = [];
    for (let i = 0; i < 6 && changes.length === 0; i++) {
      outcomes.push(buildSummary(await build(imagesRoot)));
      changes = await h.hostChanges(v, before);
      for (const name of await h.attacker.readdir(imagesRoot)) await h.attacker.rm(path.join(imagesRoot, name)).catch(() => undefined);
    }
    const raced = await racer.stop();
    expect(changes, `${outcomes.length} builds, racer stole ${raced.hits} dirs; last: ${outcomes.at(-1) ?? ''}`).toEqual([]);
  });

  /**
   * Cheapest real drive of the hand-over: BuildRootfs for an image that already exists (the
   * attacker pre-created `<images>/<recipe>-<fingerprint>/image.json`, the fingerprint computed
   * from the recipe and the kernel's identity) is a no-op that still hands the directory over,
   * lchowning every entry by path. The racer exchanges `sub` with a symlink to the victim dir
   * (RENAME_EXCHANGE, continuously) during the whole walk; lchown refuses to follow only the
   * last component, so `sub/<name>` lands on the victim's entries.
   */
  it('hand-over walk with a subdirectory exchanged for a symlink (loop, 2000 entries): victim entries stay root-owned', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const imagesRoot = path.join(h.stateDir, 'images', 'race-handover');
    const facts = await h.attacker.recipe('debian-bookworm', h.kernel!.identity);
    const trap = await prepareHandOverTrap(h.attacker, { imagesRoot, facts, victimDir: v.dir, victimEntries: v.dirEntries, fillers: 2000 });
    const racer = await h.attacker.racer('exchange', [trap.sub, trap.link, '20']);
    const outcomes: string[] = [];
    let changes: string[] = [];
    for (let i = 0; i < 10 && changes.length === 0; i++) {
      outcomes.push(buildSummary(await build(imagesRoot)));
      changes = await h.hostChanges(v, before);
    }
    const raced = await racer.stop();
    expect(changes, `${outcomes.length} hand-overs, ${raced.swaps} exchanges; last: ${outcomes.at(-1) ?? ''}`).toEqual([]);
  });
});
