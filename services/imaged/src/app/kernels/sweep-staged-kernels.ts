import type { Logger } from 'pino';
import type { KernelRepo, KernelStaging } from '../../ports/images.js';

export interface SweptKernels {
  /** Work dirs of pulls a dead imaged left half-way (`.pull-*`: a downloaded .deb, an unpacked package). */
  partialPulls: string[];
  /** Staged versions no kernel row points at (staged, then imaged died before recording it; or replaced by a newer pull). */
  unrecorded: string[];
}

/**
 * Start-up step of imaged, before it serves: pulls and builds run only inside one imaged
 * process, so when it starts nothing can be using its staging dir, and whatever a dead imaged
 * left there is removed: partial pulls at once (nothing can finish them), and staged versions
 * no row records (a pull stages, then records; the next pull of that kernel stages again).
 * Only inside imaged's own kernel staging dir.
 */
export async function sweepStagedKernels(deps: { kernels: Pick<KernelRepo, 'list'>; staging: KernelStaging; log: Logger }): Promise<SweptKernels> {
  const recorded = new Set((await deps.kernels.list()).map((k) => k.dir));
  const out: SweptKernels = { partialPulls: [], unrecorded: [] };
  for (const entry of await deps.staging.list()) {
    if (!entry.partial && recorded.has(entry.dir)) continue;
    await deps.staging.removeEntry(entry);
    (entry.partial ? out.partialPulls : out.unrecorded).push(entry.dir);
  }
  if (out.partialPulls.length + out.unrecorded.length > 0) deps.log.warn({ partial_pulls: out.partialPulls, unrecorded: out.unrecorded }, 'kernel staging a previous imaged left removed');
  return out;
}
