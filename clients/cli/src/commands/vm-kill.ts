import * as vmv1 from '@banger/api/vm';
import { arg, type CommandSpec } from '../command.js';
import { vmState } from '../render/vm.js';

export const vmKillCommand: CommandSpec = {
  path: ['vm', 'kill'],
  summary: "Terminate a VM's hypervisor process immediately",
  usage: 'REF',
  args: { min: 1, max: 1, names: 'REF' },
  async run(ctx, args) {
    const res = await ctx.vmd().unary('killVm', { ref: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.KillVmResponse.toJSON(res));
    else ctx.line(`vm ${res.vm?.name ?? arg(args, 0)} ${res.vm ? vmState(res.vm) : 'killed'}`);
    return 0;
  },
};
