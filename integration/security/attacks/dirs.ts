import type { Attacker } from '../lib/attacker.js';

/**
 * Makes `dir` the attacker's own directory. An existing one (say root's `<state>/vms`) is
 * renamed aside, never deleted: renaming needs write access only to the parent, which is
 * banger's (`<state>`, `<run>`, `<cache>` in tmpfiles.conf).
 */
export async function takeOverDir(a: Attacker, dir: string): Promise<string | undefined> {
  let aside: string | undefined;
  if (await a.exists(dir)) {
    aside = `${dir}.aside-${Date.now()}`;
    await a.rename(dir, aside);
  }
  await a.mkdir(dir, 0o755);
  return aside;
}
