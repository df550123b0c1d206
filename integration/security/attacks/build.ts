import type { helperv1 } from '@banger/api';
import type { SecurityHarness } from '../harness.js';
import type { StreamOutcome } from '../lib/attacker.js';
import { buildRootfsRequest } from './requests.js';

export type BuildOutcome = StreamOutcome<helperv1.BuildRootfsResponse>;

/** BuildRootfs as the attacker, into `imagesRoot`, with a kernel's modules dir. */
export function buildAs(h: SecurityHarness, imagesRoot: string, modulesDir: string, opts: { timeoutMs?: number; cancelAfter?: number } = {}): Promise<BuildOutcome> {
  return h.attacker.stream('buildRootfs', buildRootfsRequest({ outputPath: imagesRoot, modulesDir }), { timeoutMs: 180_000, ...opts });
}

/** The image directory a successful build answered with. */
export function builtDir(r: BuildOutcome): string | undefined {
  for (const e of r.events) if (e.event?.$case === 'result') return e.event.value.outputPath;
  return undefined;
}

export function buildSummary(r: BuildOutcome): string {
  const dir = builtDir(r);
  const how = r.err ? `${r.err.codeName} ${r.err.reason}: ${r.err.details}` : dir ? `built ${dir}` : 'no result';
  return `${r.events.length} events${r.cancelled ? ' (cancelled by the attacker)' : ''}, ${how} after ${r.ms} ms`;
}
