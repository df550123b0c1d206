import { mintOpId } from '@banger/runtime';
import { arg, bool, type CommandSpec } from '../command.js';
import { followOperation } from '../operation.js';
import { printOpResult as printVmResult } from '../render/results.js';

export const vmStartCommand: CommandSpec = {
  path: ['vm', 'start'],
  ownsInterrupt: true,
  summary: 'Start a stopped VM and follow its stages live',
  usage: 'REF [--no-wait]',
  description: 'REF is a VM name, id or unique id prefix. Ctrl-C detaches without cancelling.',
  args: { min: 1, max: 1, names: 'REF' },
  options: { 'no-wait': { type: 'boolean', description: 'do not wait for the guest services to be ready' } },
  async run(ctx, args) {
    const opId = mintOpId();
    const stream = ctx.vmd().serverStream('startVm', { ref: arg(args, 0), noWait: bool(args.values, 'no-wait') }, { opId });
    return followOperation(ctx, stream, { opId, reattach: 'banger vm watch', onResult: printVmResult(ctx) });
  },
};
