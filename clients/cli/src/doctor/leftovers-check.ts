import type { vmv1 } from '@banger/api';
import { RpcError } from '@banger/runtime';
import type { CheckResult, DoctorCheck } from './checks.js';
import { START_FIX } from './config.js';

const GIB = 1024 ** 3;
const size = (bytes: number): string => (bytes >= GIB ? `${(bytes / GIB).toFixed(1)} GiB` : `${Math.ceil(bytes / (1 << 20))} MiB`);

/** The janitor's dry run as doctor results: what is left to clean, and the space snapshots and saved states hold. */
export function leftoversResults(res: vmv1.CollectGarbageResponse): CheckResult[] {
  if (!res.helperReachable) return [{ name: 'leftovers', status: 'warn', detail: 'privhelper unreachable: cannot list what it holds', fix: START_FIX['privhelper'] ?? '' }];
  const grace = (ms: number): string => ` (in grace ${Math.ceil(ms / 1000)}s)`;
  const parts = [
    ...res.leftovers.filter((l) => l.action !== 'adopted').map((l) => `leftover ${l.kind} ${l.ref} of ${l.opId}`),
    ...res.orphans.map((o) => `orphan of vm ${o.vmId}: ${o.held.join(', ')}${o.action === 'grace' ? grace(o.graceLeftMs) : ''}`),
    ...res.snapshots.filter((x) => x.action !== 'busy').map((x) => (x.what === 'row' ? `snapshot ${x.name} left creating by ${x.detail.replace(/^its operation /, '').replace(/ is not running$/, '')}` : `orphan snapshot ${x.what === 'partial' ? 'partial ' : ''}files ${x.snapshotId} (${size(x.sizeBytes)})${x.action === 'grace' ? grace(x.graceLeftMs) : ''}`)),
    ...res.dnsDrift.map((d) => `dns record ${d}`),
  ];
  const leftovers: CheckResult =
    parts.length === 0
      ? { name: 'leftovers', status: 'pass', detail: 'no pending leftovers, no orphaned resources' }
      : { name: 'leftovers', status: 'warn', detail: `${parts.length} to clean up: ${parts.join('; ')}`, fix: 'banger system gc' };
  const s = res.space;
  if (s === undefined) return [leftovers];
  const partial = s.partialSnapshotBytes > 0 ? `, ${size(s.partialSnapshotBytes)} in partial snapshots` : '';
  return [leftovers, { name: 'snapshot space', status: 'pass', detail: `${s.snapshots} snapshots use ${size(s.snapshotBytes)}${partial}; ${s.savedStates} suspended VMs' saved states use ${size(s.savedStateBytes)}` }];
}

/** What vmd's janitor would clean now (a dry run): leftovers of failed operations, orphans, and snapshot space. */
export const leftoversCheck: DoctorCheck = {
  id: 'leftovers',
  async run(ctx) {
    try {
      return leftoversResults(await ctx.vmd().unary('collectGarbage', { dryRun: true }, ctx.callOptions({ timeoutMs: ctx.globals.timeoutMs ?? 30_000 })));
    } catch (err) {
      const detail = err instanceof RpcError && err.unreachable ? 'vmd unreachable: cannot check for leftovers' : `cannot check for leftovers: ${err instanceof Error ? err.message : String(err)}`;
      return [{ name: 'leftovers', status: 'warn', detail }];
    }
  },
};
