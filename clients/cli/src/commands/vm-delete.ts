import * as vmv1 from '@banger/api/vm';
import { arg, bool, type CommandSpec } from '../command.js';

export const vmDeleteCommand: CommandSpec = {
  path: ['vm', 'delete'],
  summary: 'Delete a VM and every host resource it uses (stopping it first)',
  usage: 'REF [--force]',
  args: { min: 1, max: 1, names: 'REF' },
  options: { force: { type: 'boolean', short: 'f', description: 'kill instead of stopping gracefully' } },
  async run(ctx, args) {
    const res = await ctx.vmd().unary('deleteVm', { ref: arg(args, 0), force: bool(args.values, 'force') }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.DeleteVmResponse.toJSON(res));
    else ctx.line(`vm ${res.vm?.name ?? arg(args, 0)} deleted`);
    return 0;
  },
};
