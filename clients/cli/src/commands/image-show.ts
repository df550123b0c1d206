import * as imagev1 from '@banger/api/image';
import { arg, type CommandSpec } from '../command.js';
import { imageDetails } from '../render/image.js';

export const imageShowCommand: CommandSpec = {
  path: ['image', 'show'],
  summary: 'Show one image in detail',
  usage: 'REF',
  args: { min: 1, max: 1, names: 'REF' },
  async run(ctx, args) {
    const res = await ctx.imaged().unary('getImage', { ref: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(imagev1.GetImageResponse.toJSON(res));
    else if (res.image) ctx.write(imageDetails(res.image));
    return 0;
  },
};
