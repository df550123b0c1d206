import * as imagev1 from '@banger/api/image';
import { arg, type CommandSpec } from '../command.js';

export const kernelRmCommand: CommandSpec = {
  path: ['kernel', 'rm'],
  summary: 'Delete an installed kernel no image uses',
  usage: 'NAME',
  args: { min: 1, max: 1, names: 'NAME' },
  async run(ctx, args) {
    const res = await ctx.imaged().unary('deleteKernel', { name: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(imagev1.DeleteKernelResponse.toJSON(res));
    else ctx.line(`kernel ${res.kernel?.name ?? arg(args, 0)} deleted`);
    return 0;
  },
};
