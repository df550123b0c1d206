import { isAbsolute, join } from 'node:path';
import { ConfigError } from './errors.js';

/** One `[[file_sync]]` entry: a host file copied into every new VM (by the CLI, as the user). */
export interface FileSyncEntry {
  /** Absolute host path; a leading `~/` is the invoking user's home. */
  host: string;
  /** Absolute guest path of the copy; missing parent directories are made. */
  guest: string;
  /** Permission bits in the guest; undefined keeps the host file's. */
  mode: number | undefined;
}

/** The keys of a `[[file_sync]]` table with their meaning (the parser's key set and docs/config.md). */
export const FILE_SYNC_KEY_DOCS: Readonly<Record<string, string>> = {
  host: 'Host file to copy, absolute or `~/...` (the invoking user\'s home); the CLI reads it as that user, and a missing file fails the create before anything is made.',
  guest: 'Absolute guest path of the copy (a file, not a directory); missing parent directories are made.',
  mode: 'Optional octal permission string like "0600"; unset keeps the host file\'s mode.',
};

const KEYS = new Set(Object.keys(FILE_SYNC_KEY_DOCS));

/**
 * Reads the `[[file_sync]]` array of tables. Host paths are resolved against `home` here, so
 * every reader of the config (the CLI, as the user whose files they are) sees absolute paths.
 */
export function parseFileSync(raw: unknown, source: string, home: string): FileSyncEntry[] {
  if (raw === undefined) return [];
  const fail = (key: string, expected: string, got: unknown): never => {
    throw new ConfigError('INVALID_CONFIG_VALUE', `config: ${key}: expected ${expected}, got ${JSON.stringify(got)} (from ${source})`, { key, expected, source });
  };
  if (!Array.isArray(raw)) return fail('file_sync', 'an array of tables ([[file_sync]])', raw);
  return raw.map((item: unknown, i) => {
    const at = `file_sync[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return fail(at, 'a table with host, guest and optional mode', item);
    const t = item as Record<string, unknown>;
    for (const k of Object.keys(t)) if (!KEYS.has(k)) throw new ConfigError('UNKNOWN_CONFIG_KEY', `config: ${at}.${k}: unknown key (known: host, guest, mode) (from ${source})`, { key: `${at}.${k}`, source });
    const hostRaw = t['host'];
    if (typeof hostRaw !== 'string' || hostRaw.includes('\0')) return fail(`${at}.host`, 'a host path (absolute, or ~/...)', hostRaw);
    const host = hostRaw.startsWith('~/') ? join(home, hostRaw.slice(2)) : hostRaw;
    if (!isAbsolute(host)) return fail(`${at}.host`, 'a host path (absolute, or ~/...)', hostRaw);
    const guest = t['guest'];
    if (typeof guest !== 'string' || !guest.startsWith('/') || guest.endsWith('/') || guest.includes('\0')) return fail(`${at}.guest`, 'an absolute guest file path like /root/.config/x.json', guest);
    const modeRaw = t['mode'];
    let mode: number | undefined;
    if (modeRaw !== undefined) {
      if (typeof modeRaw !== 'string' || !/^0?[0-7]{3,4}$/.test(modeRaw)) return fail(`${at}.mode`, 'an octal mode string like "0600"', modeRaw);
      mode = parseInt(modeRaw, 8);
    }
    return { host, guest, mode };
  });
}
