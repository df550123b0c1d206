import * as vmv1 from '@banger/api/vm';
import { arg, requireStr, type CommandSpec } from '../command.js';
import { parseSize } from '../parse/units.js';
import { formatBytes } from '../render/format.js';

export const vmResizeCommand: CommandSpec = {
  path: ['vm', 'resize'],
  summary: "Grow a stopped VM's work disk",
  usage: 'REF --work-disk GIB',
  args: { min: 1, max: 1, names: 'REF' },
  options: { 'work-disk': { type: 'string', value: 'GIB', description: 'new work disk size; a bare number is GiB (grow only)' } },
  async run(ctx, args) {
    const size = parseSize('--work-disk', requireStr(args.values, 'work-disk'), 'g');
    const res = await ctx.vmd().unary('resizeWorkDisk', { ref: arg(args, 0), sizeBytes: size }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.ResizeWorkDiskResponse.toJSON(res));
    else ctx.line(`vm ${res.vm?.name ?? arg(args, 0)} work disk is now ${formatBytes(res.vm?.workDiskSizeBytes ?? size)}`);
    return 0;
  },
};
