import * as vmv1 from '@banger/api/vm';
import { msToDuration } from '@banger/runtime/duration';
import { bool, str, type CommandSpec } from '../command.js';
import { parseDuration } from '../parse/units.js';
import { SNAPSHOT_TABLE_HEADERS, snapshotRow } from '../render/snapshot.js';

export const snapshotPruneCommand: CommandSpec = {
  path: ['snapshot', 'prune'],
  summary: 'Delete snapshots no VM was created from (and ones a crash left unfinished)',
  usage: '[--older-than DURATION] [--dry-run]',
  options: {
    'older-than': { type: 'string', value: 'DURATION', description: 'only snapshots taken longer ago than this, e.g. 7d (default: any age)' },
    'dry-run': { type: 'boolean', description: 'show what would be deleted without deleting' },
  },
  async run(ctx, { values }) {
    const given = str(values, 'older-than');
    const olderThan = given === undefined ? 0 : parseDuration('--older-than', given);
    const dryRun = bool(values, 'dry-run');
    const res = await ctx.vmd().unary('pruneSnapshots', { olderThan: msToDuration(olderThan), dryRun }, ctx.callOptions());
    if (ctx.json) {
      ctx.printJson({ dry_run: dryRun, ...(vmv1.PruneSnapshotsResponse.toJSON(res) as object) });
      return 0;
    }
    if (res.deleted.length === 0) {
      ctx.line('nothing to prune');
      return 0;
    }
    const now = ctx.now();
    ctx.table(SNAPSHOT_TABLE_HEADERS, res.deleted.map((s) => snapshotRow(s, now)));
    ctx.line(dryRun ? `${res.deleted.length} snapshot(s) would be deleted (dry run)` : `${res.deleted.length} snapshot(s) deleted`);
    return 0;
  },
};
