import * as vmv1 from '@banger/api/vm';
import { arg, type CommandSpec } from '../command.js';

export const vmTouchCommand: CommandSpec = {
  path: ['vm', 'touch'],
  summary: 'Mark a VM as used now (protects it from age-based pruning)',
  usage: 'REF',
  args: { min: 1, max: 1, names: 'REF' },
  async run(ctx, args) {
    const res = await ctx.vmd().unary('touchVm', { ref: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.TouchVmResponse.toJSON(res));
    else ctx.line(`vm ${res.vm?.name ?? arg(args, 0)} touched at ${(res.vm?.lastUsedAt ?? ctx.now()).toISOString()}`);
    return 0;
  },
};
