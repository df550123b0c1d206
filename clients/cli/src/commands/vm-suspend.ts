import { mintOpId } from '@banger/runtime';
import { arg, type CommandSpec } from '../command.js';
import { followOperation } from '../operation.js';
import { printOpResult as printVmResult } from '../render/results.js';

export const vmSuspendCommand: CommandSpec = {
  path: ['vm', 'suspend'],
  ownsInterrupt: true,
  summary: "Save a VM's state and RAM to disk and free its memory (banger vm resume restores it)",
  usage: 'REF',
  description: 'The VM survives daemon restarts and host reboots while suspended. Ctrl-C detaches without cancelling.',
  args: { min: 1, max: 1, names: 'REF' },
  async run(ctx, args) {
    const opId = mintOpId();
    const stream = ctx.vmd().serverStream('suspendVm', { ref: arg(args, 0) }, { opId });
    return followOperation(ctx, stream, { opId, reattach: 'banger vm watch', onResult: printVmResult(ctx) });
  },
};
