import * as imagev1 from '@banger/api/image';
import { arg, type CommandSpec } from '../command.js';
import { kernelDetails } from '../render/image.js';

export const kernelShowCommand: CommandSpec = {
  path: ['kernel', 'show'],
  summary: 'Show one kernel in detail',
  usage: 'NAME',
  args: { min: 1, max: 1, names: 'NAME' },
  async run(ctx, args) {
    const res = await ctx.imaged().unary('getKernel', { name: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(imagev1.GetKernelResponse.toJSON(res));
    else if (res.kernel) ctx.write(kernelDetails(res.kernel));
    return 0;
  },
};
