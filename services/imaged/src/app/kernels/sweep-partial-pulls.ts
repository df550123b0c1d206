import type { Logger } from 'pino';
import type { KernelStaging } from '../../ports/images.js';

/**
 * Start-up step of imaged, before it serves: a pull works in a fresh `.pull-*` dir beside the
 * versions it stages (a downloaded .deb, the unpacked package: hundreds of MB) and renames only
 * its finished result into place. Pulls run only inside one imaged process, so when imaged
 * starts, every `.pull-*` dir was left by one that died mid-pull and nothing can finish it: they
 * are removed, inside imaged's own staging dir only. Staged versions stay, recorded or not
 * (older ones are kept for the images built against them).
 */
export async function sweepPartialPulls(deps: { staging: KernelStaging; log: Logger }): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await deps.staging.list()) {
    if (!entry.partial) continue;
    await deps.staging.removeEntry(entry);
    removed.push(entry.dir);
  }
  if (removed.length > 0) deps.log.warn({ removed }, 'partial kernel pulls of a previous imaged removed');
  return removed;
}
