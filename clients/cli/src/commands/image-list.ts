import * as imagev1 from '@banger/api/image';
import type { CommandSpec } from '../command.js';
import { IMAGE_TABLE_HEADERS, imageRow } from '../render/image.js';

export const imageListCommand: CommandSpec = {
  path: ['image', 'list'],
  summary: 'List managed images',
  async run(ctx) {
    const res = await ctx.imaged().unary('listImages', { states: [] }, ctx.callOptions());
    if (ctx.json) ctx.printJson(imagev1.ListImagesResponse.toJSON(res));
    else if (res.images.length === 0) ctx.line("no images; build one with 'banger image build RECIPE' (see 'banger image recipes')");
    else {
      const now = ctx.now();
      ctx.table(IMAGE_TABLE_HEADERS, res.images.map((i) => imageRow(i, now)));
    }
    return 0;
  },
};
