import { mintOpId } from '@banger/runtime';
import { arg, str, type CommandSpec } from '../command.js';
import { followOperation } from '../operation.js';
import { parseCount } from '../parse/units.js';
import { printOpResult as printVmResult } from '../render/results.js';

export const vmWatchCommand: CommandSpec = {
  path: ['vm', 'watch'],
  ownsInterrupt: true,
  summary: 'Re-attach to a VM operation: replay its events and follow it to the end',
  usage: 'OP_ID [--after-seq N]',
  args: { min: 1, max: 1, names: 'OP_ID' },
  options: { 'after-seq': { type: 'string', value: 'N', description: 'only events after this sequence number' } },
  async run(ctx, args) {
    const opId = arg(args, 0);
    const after = str(args.values, 'after-seq');
    const stream = ctx.vmd().serverStream('watchOperation', { opId, afterSeq: after ? parseCount('--after-seq', after) : 0 }, { opId: mintOpId() });
    return followOperation(ctx, stream, { opId, reattach: 'banger vm watch', onResult: printVmResult(ctx) });
  },
};
