import * as imagev1 from '@banger/api/image';
import { arg, type CommandSpec } from '../command.js';

export const imageRmCommand: CommandSpec = {
  path: ['image', 'rm'],
  summary: 'Delete an image no VM uses',
  usage: 'REF',
  args: { min: 1, max: 1, names: 'REF' },
  async run(ctx, args) {
    const res = await ctx.imaged().unary('deleteImage', { ref: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(imagev1.DeleteImageResponse.toJSON(res));
    else ctx.line(`image ${res.image?.name ?? arg(args, 0)} deleted`);
    return 0;
  },
};
