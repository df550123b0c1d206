import * as vmv1 from '@banger/api/vm';
import { str, type CommandSpec } from '../command.js';
import { SNAPSHOT_TABLE_HEADERS, snapshotRow } from '../render/snapshot.js';

export const snapshotListCommand: CommandSpec = {
  path: ['snapshot', 'list'],
  summary: 'List snapshots, newest first',
  usage: '[--vm REF]',
  options: { vm: { type: 'string', value: 'REF', description: 'only snapshots of this VM' } },
  async run(ctx, { values }) {
    const res = await ctx.vmd().unary('listSnapshots', { source: str(values, 'vm') ?? '' }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.ListSnapshotsResponse.toJSON(res));
    else if (res.snapshots.length === 0) ctx.line("no snapshots; take one with 'banger vm snapshot VM --as NAME'");
    else {
      const now = ctx.now();
      ctx.table(SNAPSHOT_TABLE_HEADERS, res.snapshots.map((s) => snapshotRow(s, now)));
    }
    return 0;
  },
};
