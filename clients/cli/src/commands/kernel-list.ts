import * as imagev1 from '@banger/api/image';
import { bool, type CommandSpec } from '../command.js';
import { KERNEL_TABLE_HEADERS, kernelRow } from '../render/image.js';

export const kernelListCommand: CommandSpec = {
  path: ['kernel', 'list'],
  summary: 'List installed kernels (and catalog kernels with --available)',
  usage: '[--available]',
  options: { available: { type: 'boolean', short: 'a', description: 'also list catalog kernels that are not installed' } },
  async run(ctx, { values }) {
    const res = await ctx.imaged().unary('listKernels', { includeAvailable: bool(values, 'available') }, ctx.callOptions());
    if (ctx.json) ctx.printJson(imagev1.ListKernelsResponse.toJSON(res));
    else if (res.kernels.length === 0) ctx.line("no kernels installed; see 'banger kernel list --available' and 'banger kernel pull NAME'");
    else ctx.table(KERNEL_TABLE_HEADERS, res.kernels.map(kernelRow));
    return 0;
  },
};
