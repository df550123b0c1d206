import * as imagev1 from '@banger/api/image';
import type { CommandSpec } from '../command.js';
import { enumLabel } from '../render/format.js';

export const imageRecipesCommand: CommandSpec = {
  path: ['image', 'recipes'],
  summary: "List the recipes 'banger image build' accepts",
  async run(ctx) {
    const res = await ctx.imaged().unary('listRecipes', {}, ctx.callOptions());
    if (ctx.json) ctx.printJson(imagev1.ListRecipesResponse.toJSON(res));
    else if (res.recipes.length === 0) ctx.line('no recipes');
    else {
      ctx.table(
        ['NAME', 'INIT', 'KERNEL', 'FINGERPRINT', 'DESCRIPTION'],
        res.recipes.map((r) => [r.name, enumLabel(imagev1.initModeToJSON(r.initMode), 'INIT_MODE_'), r.kernel || '-', r.fingerprint.slice(0, 12) || '-', r.description]),
      );
    }
    return 0;
  },
};
