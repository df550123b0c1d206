import * as vmv1 from '@banger/api/vm';
import { bool, requireStr, type CommandSpec } from '../command.js';
import { msToDuration } from '@banger/runtime/duration';
import { parseDuration } from '../parse/units.js';
import { VM_TABLE_HEADERS, vmRow } from '../render/vm.js';

export const vmPruneCommand: CommandSpec = {
  path: ['vm', 'prune'],
  summary: 'Delete stopped VMs older than an age',
  usage: '--older-than DURATION [--dry-run]',
  options: {
    'older-than': { type: 'string', value: 'DURATION', description: 'only VMs stopped longer ago than this, e.g. 7d' },
    'dry-run': { type: 'boolean', description: 'show what would be deleted without deleting' },
  },
  async run(ctx, { values }) {
    const olderThan = parseDuration('--older-than', requireStr(values, 'older-than'));
    const dryRun = bool(values, 'dry-run');
    const res = await ctx.vmd().unary('pruneVms', { olderThan: msToDuration(olderThan), dryRun }, ctx.callOptions());
    if (ctx.json) {
      ctx.printJson({ dry_run: dryRun, ...(vmv1.PruneVmsResponse.toJSON(res) as object) });
      return 0;
    }
    if (res.deleted.length === 0) {
      ctx.line('nothing to prune');
      return 0;
    }
    const now = ctx.now();
    ctx.table(VM_TABLE_HEADERS, res.deleted.map((vm) => vmRow(vm, now)));
    ctx.line(dryRun ? `${res.deleted.length} VM(s) would be deleted (dry run)` : `${res.deleted.length} VM(s) deleted`);
    return 0;
  },
};
