import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ImageKitError } from '../errors.js';

/** Finds the host's Debian mirror for `suite` in one-line sources.list text. */
export function mirrorFromList(text: string, suite: string): string | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').replace(/\[[^\]]*\]/g, ' ').trim();
    const parts = line.split(/\s+/).filter((p) => !p.startsWith('['));
    if (parts[0] === 'deb' && parts[2] === suite && parts[1]) return parts[1];
  }
  return undefined;
}

/** Same for deb822 `.sources` text (Types/URIs/Suites stanzas). */
export function mirrorFromDeb822(text: string, suite: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const f: Record<string, string> = {};
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const i = line.indexOf(':');
      if (i > 0) f[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    if (f['enabled'] === 'no') continue;
    const types = (f['types'] ?? '').split(/\s+/);
    const suites = (f['suites'] ?? '').split(/\s+/);
    const uri = (f['uris'] ?? '').split(/\s+/)[0];
    if (types.includes('deb') && suites.includes(suite) && uri) return uri;
  }
  return undefined;
}

/** The mirror debootstrap should use: the host's own apt source for the suite (the only reachable one here). */
export async function hostMirror(suite: string, etcApt = '/etc/apt'): Promise<string> {
  const list = await readFile(path.join(etcApt, 'sources.list'), 'utf8').catch(() => '');
  const m = mirrorFromList(list, suite);
  if (m) return m;
  const dir = path.join(etcApt, 'sources.list.d');
  for (const f of (await readdir(dir).catch(() => [] as string[])).sort()) {
    const text = await readFile(path.join(dir, f), 'utf8').catch(() => '');
    const found = f.endsWith('.sources') ? mirrorFromDeb822(text, suite) : f.endsWith('.list') ? mirrorFromList(text, suite) : undefined;
    if (found) return found;
  }
  throw new ImageKitError('FAILED_PRECONDITION', 'NO_MIRROR', `no apt source for suite ${suite} in ${etcApt}`, { suite });
}
