import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { chrootEscapePayload, poisonBaseCache, poisonNpmArtifact } from './attacks/build-cache.js';
import { buildAs, builtDir, buildSummary } from './attacks/build.js';
import { securityUnavailableReason, useHarness } from './harness.js';

const run = promisify(execFile);

/**
 * Issue 11, items 3 and 4: BuildRootfs as root consumes the caller-writable cache and builds
 * inside the caller-owned images dir. No full Debian build: the cache short-circuits
 * debootstrap and npm (a root-seeded stand-in plays "a previous legitimate build"), so every
 * build here needs no network and takes seconds.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: build cache: ${skip}`);

describe.skipIf(skip !== undefined)('security: BuildRootfs over a caller-writable cache and images dir', () => {
  const ctx = useHarness({ guest: true, seedBuildCache: 'each' });

  const build = (out: string): ReturnType<typeof buildAs> => buildAs(ctx.h, path.join(ctx.h.stateDir, 'images', out), ctx.h.kernel!.modulesDir);

  it('poisoned debootstrap tar: no code from it runs as root on the host (payload marker in a root-only dir)', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const facts = await h.attacker.recipe('debian-bookworm', h.kernel!.identity);
    await poisonBaseCache(h.attacker, { cacheDir: h.cacheDir, home: h.launch.home, facts, systemctl: chrootEscapePayload(path.join(v.dir, 'PWNED')) });
    const r = await build('poisoned');
    const marker = await readFile(path.join(v.dir, 'PWNED'), 'utf8').catch(() => '');
    expect(await h.hostChanges(v, before), `build: ${buildSummary(r)}; marker: ${marker.trim()}`).toEqual([]);
  });

  /**
   * Found in rootfs/build.ts: the artifact step copies the npm file to `<tree>/usr/local/bin/
   * opencode` and chmods it 0755, following a symlink the tar put there. No code runs; the
   * build fails later (this tar has no systemctl) after the host file was overwritten.
   */
  it('debootstrap tar with a symlink where the artifact goes: the build does not overwrite (or chmod) the victim', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const facts = await h.attacker.recipe('debian-bookworm', h.kernel!.identity);
    await poisonBaseCache(h.attacker, { cacheDir: h.cacheDir, home: h.launch.home, facts, systemctl: null, links: { 'usr/local/bin/opencode': path.join(v.dir, 'sudoers') } });
    const r = await build('linked');
    expect(await h.hostChanges(v, before), `build: ${buildSummary(r)}`).toEqual([]);
  });

  /**
   * The cached npm artifact becomes /usr/local/bin/opencode in every image, run as root in each
   * guest. Not a host escape, but the cache must be trusted input all the same (item 4).
   */
  it("poisoned npm artifact: the image's /usr/local/bin/opencode is not the attacker's file", async () => {
    const { h } = ctx;
    const facts = await h.attacker.recipe('debian-bookworm', h.kernel!.identity);
    const evil = '#!/bin/sh\necho attacker-controlled opencode\n';
    await poisonNpmArtifact(h.attacker, h.cacheDir, facts, evil);
    const r = await build('npm');
    const out = builtDir(r);
    let inImage = '';
    if (out) inImage = (await run('debugfs', ['-R', 'cat /usr/local/bin/opencode', path.join(out, 'rootfs.ext4')])).stdout;
    expect(inImage, `build: ${buildSummary(r)}`).not.toBe(evil);
  });
});
