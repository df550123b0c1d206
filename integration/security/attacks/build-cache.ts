import path from 'node:path';
import type { Attacker } from '../lib/attacker.js';
import { writeMiniRoot, type TreeWriter } from '../lib/build-inputs.js';
import type { RecipeFacts } from '../attacker/protocol.js';
import { takeOverDir } from './dirs.js';

/**
 * BuildRootfs reads `<cache>/debootstrap/<key>.tar` and `<cache>/npm/...` from the banger-owned
 * cache dir and runs as root over what it finds. The attacker computes the key from public
 * inputs (recipe, /etc/apt) and puts its own files there.
 *
 * v2 (root-only cache verified against a root-owned sha256 index): the attacker cannot
 * replace `<cache>/debootstrap` or `<cache>/npm` (EACCES), or a planted file fails the index
 * check and the build is refused; the assertions stay as they are.
 */

export function attackerWriter(a: Attacker): TreeWriter {
  return {
    mkdir: (p) => a.mkdir(p),
    copy: async (from, to) => void (await a.must('cp', [from, to])),
    symlink: (target, p) => a.symlink(target, p),
    writeFile: (p, data, mode) => a.writeFile(p, data, mode),
  };
}

/**
 * Shell run as root inside the build chroot: mounts proc (root in the chroot keeps CAP_SYS_ADMIN),
 * reaches the host through /proc/$PPID/root (privhelper's root) and writes `marker`. No
 * redirections to /dev/null: the tree has no /dev, and a failed redirection skips the command.
 */
export function chrootEscapePayload(marker: string): string {
  return [
    '/bin/busybox mount -t proc proc /proc',
    `/bin/busybox echo "written by uid $(/bin/busybox id -u) from the build chroot" > /proc/$PPID/root${marker}`,
    '/bin/busybox umount /proc',
  ].join('\n');
}

/**
 * Builds a base-system tar as banger in its own home and installs it as the debootstrap cache
 * entry for `facts.baseCacheKey`. `systemctl` null leaves it out; `links` adds symlinks inside
 * the tree (path in the tree -> absolute target on the host).
 */
export async function poisonBaseCache(
  a: Attacker,
  o: { cacheDir: string; home: string; facts: RecipeFacts; systemctl: string | null; links?: Record<string, string> },
): Promise<string> {
  const tree = path.join(o.home, `tree-${Date.now()}`);
  await writeMiniRoot(attackerWriter(a), tree, o.systemctl);
  for (const [inTree, target] of Object.entries(o.links ?? {})) await a.symlink(target, path.join(tree, inTree));
  await takeOverDir(a, path.join(o.cacheDir, 'debootstrap'));
  const tar = path.join(o.cacheDir, 'debootstrap', `${o.facts.baseCacheKey}.tar`);
  await a.must('tar', ['-cf', tar, '-C', tree, '.']);
  await a.rm(tree);
  return tar;
}

/** Replaces the cached npm artifact (the guest's opencode binary) with the attacker's bytes. */
export async function poisonNpmArtifact(a: Attacker, cacheDir: string, facts: RecipeFacts, content: string): Promise<string> {
  await takeOverDir(a, path.join(cacheDir, 'npm'));
  const npm = facts.npm[0];
  if (!npm) throw new Error('recipe has no npm artifact');
  const file = path.join(cacheDir, 'npm', npm.dir, 'package', npm.file);
  await a.mkdir(path.dirname(file));
  await a.writeFile(file, content, 0o755);
  return file;
}

/**
 * A kernel dir as imaged would stage it, but with a manifest the attacker wrote: `artifacts`
 * as given (no file entries at all, or files that lead out), an empty modules/ dir.
 */
export async function plantKernelDir(a: Attacker, stateDir: string, name: string, artifacts: Record<string, { file?: string; sha256: string; size: number }>): Promise<{ dir: string; modulesDir: string; identity: { name: string; release: string; packageVersion: string } }> {
  const identity = { name, release: '6.1.0-attacker', packageVersion: '1' };
  const dir = path.join(stateDir, 'kernels', name, identity.packageVersion);
  await a.mkdir(path.join(dir, 'modules'));
  const manifest = { schema: 1, ...identity, flavour: 'cloud', hypervisors: ['qemu'], package: 'linux-image-attacker', suite: 'bookworm', pulledAt: new Date().toISOString(), artifacts, modules: [], missingModules: [] };
  await a.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return { dir, modulesDir: path.join(dir, 'modules'), identity };
}
