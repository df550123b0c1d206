import { mintOpId } from '@banger/runtime';
import { arg, bool, type CommandSpec } from '../command.js';
import { followOperation } from '../operation.js';
import { printOpResult as printVmResult } from '../render/results.js';

export const vmResumeCommand: CommandSpec = {
  path: ['vm', 'resume'],
  ownsInterrupt: true,
  summary: 'Run a paused VM again, or restore a suspended one from disk, following its stages',
  usage: 'REF [--no-wait]',
  description: 'REF is a VM name, id or unique id prefix. Ctrl-C detaches without cancelling.',
  args: { min: 1, max: 1, names: 'REF' },
  options: { 'no-wait': { type: 'boolean', description: 'after a restore, do not wait for the guest services' } },
  async run(ctx, args) {
    const opId = mintOpId();
    const stream = ctx.vmd().serverStream('resumeVm', { ref: arg(args, 0), noWait: bool(args.values, 'no-wait') }, { opId });
    return followOperation(ctx, stream, { opId, reattach: 'banger vm watch', onResult: printVmResult(ctx) });
  },
};
