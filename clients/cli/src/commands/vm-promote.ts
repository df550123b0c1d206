import * as vmv1 from '@banger/api/vm';
import { arg, requireStr, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import type { ParsedArgs } from '../command.js';

/** Shared by `vm promote` and `image promote`: both go through vmd, which holds the VM lock. */
export async function promoteVm(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const res = await ctx.vmd().unary('promoteVm', { ref: arg(args, 0), imageName: requireStr(args.values, 'name') }, ctx.callOptions());
  if (ctx.json) ctx.printJson(vmv1.PromoteVmResponse.toJSON(res));
  else ctx.line(`image ${res.image?.name ?? requireStr(args.values, 'name')} created from vm ${arg(args, 0)}${res.image?.id ? ` (id ${res.image.id})` : ''}`);
  return 0;
}

export const vmPromoteCommand: CommandSpec = {
  path: ['vm', 'promote'],
  summary: "Turn a stopped VM's root disk into a new managed image",
  usage: 'REF --name IMAGE',
  args: { min: 1, max: 1, names: 'REF' },
  options: { name: { type: 'string', value: 'IMAGE', description: 'name of the new image' } },
  run: promoteVm,
};
