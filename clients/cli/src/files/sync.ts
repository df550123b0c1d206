import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { vmv1 } from '@banger/api';
import { loadConfig, type FileSyncEntry } from '@banger/config';
import { CliError, UsageError } from '../errors.js';
import { EXIT } from '../exit-codes.js';

/** `--sync HOST:GUEST`: the guest side is the last ':' followed by an absolute path. */
export function parseSyncFlag(spec: string): FileSyncEntry {
  const at = spec.lastIndexOf(':/');
  if (at <= 0) throw new UsageError(`--sync ${JSON.stringify(spec)}: expected HOST:GUEST with an absolute guest path`, 'e.g. --sync ~/.config/opencode/auth.json:/root/.local/share/opencode/auth.json');
  const guest = spec.slice(at + 1);
  if (guest.endsWith('/')) throw new UsageError(`--sync ${JSON.stringify(spec)}: the guest side must name a file, not a directory`);
  return { host: resolve(spec.slice(0, at)), guest, mode: undefined };
}

/** The config's `[[file_sync]]` entries; a config this user cannot read has none (the daemons' own may be private). */
export function configFileSync(env: Record<string, string | undefined>, warn: (m: string) => void): FileSyncEntry[] {
  try {
    return loadConfig({ env }).fileSync;
  } catch (err) {
    if ((err as { reason?: unknown }).reason === 'CONFIG_UNREADABLE') {
      warn(`${(err as Error).message}; no [[file_sync]] entries applied`);
      return [];
    }
    throw new CliError((err as Error).message, EXIT.USAGE, 'INVALID_CONFIG');
  }
}

/**
 * Reads the files to send with a create, as the invoking user: the CLI reads them, not vmd,
 * so nobody reads host paths with another user's rights. A missing or non-regular file fails
 * here, before anything is created. Later entries for the same guest path win (--sync after the config).
 */
export async function readSyncFiles(entries: readonly FileSyncEntry[]): Promise<vmv1.SyncFile[]> {
  const byGuest = new Map<string, vmv1.SyncFile>();
  for (const e of entries) {
    const st = await stat(e.host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new CliError(`file_sync: ${e.host}: no such file (for ${e.guest}); nothing was created`, EXIT.NOT_FOUND, 'SYNC_SOURCE_NOT_FOUND');
      throw new CliError(`file_sync: ${e.host}: ${err.code ?? err.message}; nothing was created`, EXIT.PERMISSION, 'SYNC_SOURCE_UNREADABLE');
    });
    if (!st.isFile()) throw new CliError(`file_sync: ${e.host}: not a regular file (copy directories with vm cp); nothing was created`, EXIT.PRECONDITION, 'SYNC_SOURCE_NOT_A_FILE');
    const data = await readFile(e.host).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`file_sync: ${e.host}: ${err.code ?? err.message}; nothing was created`, EXIT.PERMISSION, 'SYNC_SOURCE_UNREADABLE');
    });
    byGuest.set(e.guest, { guestPath: e.guest, mode: e.mode ?? st.mode & 0o7777, data });
  }
  return [...byGuest.values()];
}

/** The config's entries and the command line's, read; `noConfig` skips the config's. */
export async function syncFilesFor(opts: { env: Record<string, string | undefined>; flags: readonly string[]; noConfig: boolean; warn: (m: string) => void }): Promise<vmv1.SyncFile[]> {
  const entries = [...(opts.noConfig ? [] : configFileSync(opts.env, opts.warn)), ...opts.flags.map(parseSyncFlag)];
  return readSyncFiles(entries);
}
