import { arg, type CommandSpec } from '../command.js';
import { followOperation } from '../operation.js';
import { getOperation, watchOperation } from '../ops.js';
import { printOpResult } from '../render/results.js';

export const opsWatchCommand: CommandSpec = {
  path: ['ops', 'watch'],
  ownsInterrupt: true,
  summary: 'Re-attach to any operation (VM, image or kernel) and follow it to the end',
  usage: 'OP_ID',
  args: { min: 1, max: 1, names: 'OP_ID' },
  async run(ctx, args) {
    const opId = arg(args, 0);
    const { daemon } = await getOperation(ctx, opId);
    const stream = watchOperation(ctx, daemon, opId);
    return followOperation(ctx, stream, { opId, reattach: 'banger ops watch', onResult: printOpResult(ctx) });
  },
};
