import * as vmv1 from '@banger/api/vm';
import { bool, type CommandSpec } from '../command.js';

/** One line per thing the pass looked at: what, where it came from, and what happened. */
export function gcRows(res: vmv1.CollectGarbageResponse): string[][] {
  return [
    ...res.leftovers.map((l) => ['leftover', `${l.kind} ${l.ref}`, `vm ${l.vmId}, ${l.opId}`, l.action, l.detail]),
    ...res.orphans.map((o) => ['orphan', o.held.join(', '), `vm ${o.vmId} (${o.scope === 'vm' ? 'no row' : 'stopped'})`, o.action, o.action === 'grace' ? `removable in ${Math.ceil(o.graceLeftMs / 1000)}s` : o.detail]),
    ...res.snapshots.map((x) => ['snapshot', x.what === 'row' ? `row ${x.name} (creating)` : `${x.what === 'partial' ? 'partial ' : ''}files ${x.snapshotId} (${mib(x.sizeBytes)})`, x.what === 'row' ? `snapshot ${x.snapshotId}` : 'no row', x.action, x.action === 'grace' ? `removable in ${Math.ceil(x.graceLeftMs / 1000)}s` : x.detail]),
    ...res.dnsDrift.map((d) => ['dns', d, '', res.dryRun ? 'would_resync' : 'failed', '']),
  ];
}

const mib = (bytes: number): string => `${Math.ceil(bytes / (1 << 20))} MiB`;

export const systemGcCommand: CommandSpec = {
  path: ['system', 'gc'],
  summary: 'Clean up what failed operations left behind and orphans nobody owns (what the janitor runs)',
  usage: '[--dry-run]',
  options: {
    'dry-run': { type: 'boolean', description: 'show what would be removed without removing anything' },
  },
  async run(ctx, { values }) {
    const dryRun = bool(values, 'dry-run');
    const failed = (r: vmv1.CollectGarbageResponse): boolean => !r.helperReachable || [...r.leftovers, ...r.orphans, ...r.snapshots].some((x) => x.action === 'failed');
    const res = await ctx.vmd().unary('collectGarbage', { dryRun }, ctx.callOptions({ timeoutMs: ctx.globals.timeoutMs ?? 120_000 }));
    if (ctx.json) {
      // Every field, defaults included: a script reads helperReachable=false as plainly as true.
      ctx.printJson({ ...(vmv1.CollectGarbageResponse.toJSON(res) as object), dryRun: res.dryRun, helperReachable: res.helperReachable, pending: res.pending, dnsDrift: res.dnsDrift });
      return failed(res) ? 1 : 0;
    }
    const rows = gcRows(res);
    if (rows.length === 0) {
      ctx.line('nothing to clean up');
      return 0;
    }
    ctx.table(['WHAT', 'RESOURCE', 'OWNER', 'ACTION', 'DETAIL'], rows);
    if (!res.helperReachable) ctx.line('privhelper could not be reached; run again once it is back');
    if (dryRun) ctx.line('dry run: nothing was removed');
    else if (res.pending) ctx.line("some items remain; vmd's janitor retries them (or run 'banger system gc' again)");
    return failed(res) ? 1 : 0;
  },
};
