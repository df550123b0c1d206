import path from 'node:path';
import type { Attacker } from '../lib/attacker.js';
import type { RecipeFacts } from '../attacker/protocol.js';

/**
 * An image directory as BuildRootfs would find it already built (so the build is a no-op and
 * goes straight to the hand-over walk), prepared by the attacker: `fillers` files, a
 * subdirectory `sub` holding entries named like the victim directory's, and `sub.link`, a
 * symlink to the victim directory, for a racer to exchange with `sub`.
 *
 * v2: image directories are built in a root-owned tree and handed over by a safe walk or a
 * copy; the attacker then pre-creates this directory where the caller-visible copy would go.
 */
export async function prepareHandOverTrap(
  a: Attacker,
  o: { imagesRoot: string; facts: RecipeFacts; victimDir: string; victimEntries: readonly string[]; fillers: number },
): Promise<{ dir: string; sub: string; link: string }> {
  const dir = path.join(o.imagesRoot, o.facts.imageDirName);
  await a.mkdir(dir);
  await a.writeFile(path.join(dir, 'image.json'), JSON.stringify({ schema: 1, recipe: 'debian-bookworm', fingerprint: o.facts.fingerprint, rootfsBytes: 1 }));
  const sub = path.join(dir, 'sub');
  await a.mkdir(sub);
  for (const name of o.victimEntries) await a.writeFile(path.join(sub, name), 'decoy\n');
  const fillers = Array.from({ length: o.fillers }, (_, i) => path.join(dir, `f${String(i).padStart(5, '0')}`));
  await a.symlinkMany('image.json', fillers);
  const link = path.join(dir, 'sub.link');
  await a.symlink(o.victimDir, link);
  return { dir, sub, link };
}
