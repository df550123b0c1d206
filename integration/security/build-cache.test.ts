import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chrootEscapePayload, poisonBaseCache, poisonNpmArtifact } from './attacks/build-cache.js';
import { buildRootfsRequest } from './attacks/requests.js';
import { SecurityHarness, securityUnavailableReason } from './harness.js';
import type { StreamOutcome } from './lib/attacker.js';
import { seedBuildCacheAsRoot } from './lib/build-inputs.js';

const run = promisify(execFile);

/**
 * Issue 11, items 3 and 4: BuildRootfs as root consumes the caller-writable cache and builds
 * inside the caller-owned images dir. No full Debian build: the cache short-circuits
 * debootstrap and npm (a root-seeded stand-in plays "a previous legitimate build"), so every
 * build here needs no network and takes seconds.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: build cache: ${skip}`);

type BuildOutcome = StreamOutcome<{ event?: { $case: string; value: { outputPath?: string } } | undefined }>;

function summary(r: BuildOutcome): string {
  const result = r.events.find((e) => e.event?.$case === 'result')?.event?.value.outputPath;
  return `${r.events.length} events, ${r.err ? `${r.err.codeName} ${r.err.reason}: ${r.err.details}` : result ? `built ${result}` : 'no result'}`;
}

describe.skipIf(skip !== undefined)('security: BuildRootfs over a caller-writable cache and images dir', () => {
  let h: SecurityHarness;

  beforeAll(async () => {
    h = await SecurityHarness.start({ guest: true });
  });
  beforeEach(async () => {
    await seedBuildCacheAsRoot(h.cacheDir);
  });
  afterAll(async () => {
    await h?.close();
  });

  const build = (out: string): Promise<BuildOutcome> =>
    h.attacker.stream('buildRootfs', buildRootfsRequest({ outputPath: path.join(h.stateDir, 'images', out), modulesDir: h.kernel!.modulesDir }), { timeoutMs: 180_000 });

  it('poisoned debootstrap tar: no code from it runs as root on the host (payload marker in a root-only dir)', async () => {
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const facts = await h.attacker.recipe('debian-bookworm', h.kernel!.identity);
    await poisonBaseCache(h.attacker, { cacheDir: h.cacheDir, home: h.launch.home, facts, systemctl: chrootEscapePayload(path.join(v.dir, 'PWNED')) });
    const r = await build('poisoned');
    const marker = await readFile(path.join(v.dir, 'PWNED'), 'utf8').catch(() => '');
    expect(await h.hostChanges(v, before), `build: ${summary(r)}; marker: ${marker.trim()}`).toEqual([]);
  });

  /**
   * Found in rootfs/build.ts: the artifact step copies the npm file to `<tree>/usr/local/bin/
   * opencode` and chmods it 0755, following a symlink the tar put there. No code runs; the
   * build fails later (this tar has no systemctl) after the host file was overwritten.
   */
  it('debootstrap tar with a symlink where the artifact goes: the build does not overwrite (or chmod) the victim', async () => {
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const facts = await h.attacker.recipe('debian-bookworm', h.kernel!.identity);
    await poisonBaseCache(h.attacker, { cacheDir: h.cacheDir, home: h.launch.home, facts, systemctl: null, links: { 'usr/local/bin/opencode': path.join(v.dir, 'sudoers') } });
    const r = await build('linked');
    expect(await h.hostChanges(v, before), `build: ${summary(r)}`).toEqual([]);
  });

  /**
   * The cached npm artifact becomes /usr/local/bin/opencode in every image, run as root in each
   * guest. Not a host escape, but the cache must be trusted input all the same (item 4).
   */
  it("poisoned npm artifact: the image's /usr/local/bin/opencode is not the attacker's file", async () => {
    const facts = await h.attacker.recipe('debian-bookworm', h.kernel!.identity);
    const evil = '#!/bin/sh\necho attacker-controlled opencode\n';
    await poisonNpmArtifact(h.attacker, h.cacheDir, facts, evil);
    const r = await build('npm');
    const out = r.events.find((e) => e.event?.$case === 'result')?.event?.value.outputPath;
    let inImage = '';
    if (out) inImage = (await run('debugfs', ['-R', 'cat /usr/local/bin/opencode', path.join(out, 'rootfs.ext4')])).stdout;
    expect(inImage, `build: ${summary(r)}`).not.toBe(evil);
  });
});
