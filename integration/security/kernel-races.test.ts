import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeptArtifact } from '@banger/imagekit';
import { describe, expect, it } from 'vitest';
import { plantKernel, smallKernelFiles } from './attacks/kernel.js';
import { securityUnavailableReason, useHarness, type SecurityHarness, type Victims } from './harness.js';
import { racerLine } from './lib/attacker.js';
import { fileNameOf, kernelManifest, type KernelFiles } from './lib/build-inputs.js';
import { evidence } from './lib/evidence.js';

/**
 * InstallKernel reads a directory the caller owns and may change at any moment
 * (`<state>/kernels/<name>/<version>/`). Here the attacker changes it for the whole call, in a
 * loop over many installs: it exchanges the version directory, the name directory, one
 * artifact or the manifest with a symlink to a root-only kernel (a victim whose manifest and
 * files agree, so following the link even once would install it, readable by group banger in
 * the store). Safe: every install is either the attacker's own files or refused; the store
 * never holds a victim byte.
 */
const skip = await securityUnavailableReason();
if (skip) console.warn(`[skip] security: kernel staging races: ${skip}`);

const ATTEMPTS = 30;
const KEPT: readonly KeptArtifact[] = ['vmlinux', 'initrd', 'vmlinuz', 'config'];

/** A root-only kernel dir `<v.root>/kernels/<name>/1/` whose manifest matches its secret files. */
async function victimKernel(v: Victims, name: string): Promise<{ nameDir: string; dir: string; files: KernelFiles }> {
  const files: KernelFiles = { vmlinux: Buffer.from(`${v.secretText}vmlinux\n`), initrd: Buffer.from(`${v.secretText}initrd\n`), vmlinuz: Buffer.from(`${v.secretText}vmlinuz\n`), config: Buffer.from(`${v.secretText}config\n`) };
  const nameDir = path.join(v.root, 'kernels', name);
  const dir = path.join(nameDir, '1');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const k of KEPT) await writeFile(path.join(dir, fileNameOf(k)), files[k], { mode: 0o600 });
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(kernelManifest(name, '1', files)), { mode: 0o600 });
  return { nameDir, dir, files };
}

interface Tally {
  installedOwn: number;
  leaked: string[];
  refused: Record<string, number>;
}

/** InstallKernel over and over while a racer runs; each installed copy is checked and removed again. */
async function installLoop(h: SecurityHarness, ref: { name: string; version: string }, own: KernelFiles, victim: KernelFiles): Promise<Tally> {
  const t: Tally = { installedOwn: 0, leaked: [], refused: {} };
  for (let i = 0; i < ATTEMPTS; i++) {
    const r = await h.attacker.call('installKernel', { kernel: ref }, 20_000);
    if (!r.ok) {
      t.refused[r.err.reason] = (t.refused[r.err.reason] ?? 0) + 1;
      continue;
    }
    const dir = path.join(h.helper.kernelsDir, ref.name, ref.version);
    for (const k of KEPT) {
      const copy = await readFile(path.join(dir, fileNameOf(k)));
      if (copy.includes(victim[k].subarray(0, 40))) t.leaked.push(`${k} is the victim's`);
      else if (!copy.equals(own[k])) t.leaked.push(`${k} is neither the caller's nor the victim's`);
    }
    if (t.leaked.length === 0) t.installedOwn++;
    await h.attacker.call('removeKernel', { kernel: ref });
  }
  return t;
}

function tallyLine(t: Tally): string {
  const refused = Object.entries(t.refused).map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
  return `${ATTEMPTS} installs: ${t.installedOwn} of the caller's own files, refused: ${refused}; leaked: ${t.leaked.length ? t.leaked.join('; ') : 'nothing'}`;
}

describe.skipIf(skip !== undefined)('security: InstallKernel while the caller swaps its staging directory', () => {
  const ctx = useHarness();

  for (const what of ['version directory', 'name directory'] as const) {
    it(`the ${what} exchanged with a symlink to a root-only kernel (loop, ${ATTEMPTS} installs): only the caller's own files are ever installed`, async () => {
      const { h } = ctx;
      const v = await h.victims();
      const name = what === 'version directory' ? 'racev' : 'racen';
      const vk = await victimKernel(v, name);
      const before = await h.hostSnapshot(v);
      const own = smallKernelFiles();
      const k = await plantKernel(h.attacker, h.daemonDirs.kernelStagingDir, { name, files: own });
      const swapped = what === 'version directory' ? k.dir : path.dirname(k.dir);
      const link = `${swapped}.link`;
      await h.attacker.symlink(what === 'version directory' ? vk.dir : vk.nameDir, link);
      const racer = await h.attacker.racer('exchange', [swapped, link, '20']);
      const t = await installLoop(h, k.ref, own, vk.files);
      const raced = await racer.stop();
      evidence(`${tallyLine(t)}; ${racerLine(raced)}`);
      expect(t.leaked, tallyLine(t)).toEqual([]);
      expect(raced.swaps, racerLine(raced)).toBeGreaterThan(ATTEMPTS);
      expect(await h.hostChanges(v, before)).toEqual([]);
    });
  }

  it(`vmlinux exchanged with a symlink to a root-only file whose sha256 the manifest names (loop, ${ATTEMPTS} installs): never installed`, async () => {
    const { h } = ctx;
    const v = await h.victims();
    const vk = await victimKernel(v, 'racef');
    const before = await h.hostSnapshot(v);
    const own = smallKernelFiles();
    const sha = createHash('sha256').update(vk.files.vmlinux).digest('hex');
    const manifest = kernelManifest('racef', '1', own, (m) => ({ ...m, artifacts: { ...m.artifacts, vmlinux: { file: 'vmlinux', sha256: sha, size: vk.files.vmlinux.length } } }));
    const k = await plantKernel(h.attacker, h.daemonDirs.kernelStagingDir, { name: 'racef', files: own, manifest });
    await h.attacker.symlink(path.join(vk.dir, 'vmlinux'), `${k.file('vmlinux')}.link`);
    const racer = await h.attacker.racer('exchange', [k.file('vmlinux'), `${k.file('vmlinux')}.link`, '20']);
    const t = await installLoop(h, k.ref, own, vk.files);
    const raced = await racer.stop();
    evidence(`${tallyLine(t)}; ${racerLine(raced)}`);
    expect({ installed: t.installedOwn, leaked: t.leaked }, tallyLine(t)).toEqual({ installed: 0, leaked: [] });
    expect(raced.swaps, racerLine(raced)).toBeGreaterThan(ATTEMPTS);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  it(`manifest.json exchanged with a symlink to a root-only kernel's manifest (loop, ${ATTEMPTS} installs): only the caller's own manifest is read`, async () => {
    const { h } = ctx;
    const v = await h.victims();
    const vk = await victimKernel(v, 'racem');
    const before = await h.hostSnapshot(v);
    const own = smallKernelFiles();
    const k = await plantKernel(h.attacker, h.daemonDirs.kernelStagingDir, { name: 'racem', files: own });
    const manifest = path.join(k.dir, 'manifest.json');
    await h.attacker.symlink(path.join(vk.dir, 'manifest.json'), `${manifest}.link`);
    const racer = await h.attacker.racer('exchange', [manifest, `${manifest}.link`, '20']);
    const t = await installLoop(h, k.ref, own, vk.files);
    const raced = await racer.stop();
    evidence(`${tallyLine(t)}; ${racerLine(raced)}`);
    expect(t.leaked, tallyLine(t)).toEqual([]);
    expect(Object.keys(t.refused).every((r) => r === 'SYMLINK_REFUSED'), tallyLine(t)).toBe(true);
    expect(raced.swaps, racerLine(raced)).toBeGreaterThan(ATTEMPTS);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });
});
