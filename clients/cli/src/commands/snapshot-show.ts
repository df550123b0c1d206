import * as vmv1 from '@banger/api/vm';
import { arg, type CommandSpec } from '../command.js';
import { snapshotDetails } from '../render/snapshot.js';

export const snapshotShowCommand: CommandSpec = {
  path: ['snapshot', 'show'],
  summary: 'Show one snapshot in detail',
  usage: 'REF',
  args: { min: 1, max: 1, names: 'REF' },
  async run(ctx, args) {
    const res = await ctx.vmd().unary('getSnapshot', { ref: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.GetSnapshotResponse.toJSON(res));
    else if (res.snapshot) ctx.write(snapshotDetails(res.snapshot));
    return 0;
  },
};
