import * as vmv1 from '@banger/api/vm';
import { arg, type CommandSpec } from '../command.js';

export const snapshotRmCommand: CommandSpec = {
  path: ['snapshot', 'rm'],
  summary: 'Delete a snapshot no VM was created from',
  usage: 'REF',
  args: { min: 1, max: 1, names: 'REF' },
  async run(ctx, args) {
    const res = await ctx.vmd().unary('deleteSnapshot', { ref: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.DeleteSnapshotResponse.toJSON(res));
    else ctx.line(`snapshot ${res.snapshot?.name ?? arg(args, 0)} deleted`);
    return 0;
  },
};
