import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Lazily unmounts anything mounted below `dir` (deepest first): debootstrap and chroot steps
 * mount proc/sys inside the target, and a cancelled build must not rm -rf through a live mount.
 */
export async function unmountUnder(dir: string): Promise<void> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const prefix = path.resolve(dir) + path.sep;
  const points = text
    .split('\n')
    .map((l) => unescapeMount(l.split(' ')[4] ?? ''))
    .filter((p) => p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await run('umount', ['-l', p], toolOptions(undefined)).catch(() => undefined);
}
