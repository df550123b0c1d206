import * as vmv1 from '@banger/api/vm';
import { arg, type CommandSpec } from '../command.js';
import { vmState } from '../render/vm.js';

export const vmPauseCommand: CommandSpec = {
  path: ['vm', 'pause'],
  summary: "Pause a running VM's vCPUs in memory (banger vm resume runs it again)",
  usage: 'REF',
  args: { min: 1, max: 1, names: 'REF' },
  async run(ctx, args) {
    const res = await ctx.vmd().unary('pauseVm', { ref: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.PauseVmResponse.toJSON(res));
    else ctx.line(`vm ${res.vm?.name ?? arg(args, 0)} ${res.vm ? vmState(res.vm) : 'paused'}`);
    return 0;
  },
};
