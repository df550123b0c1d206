import { mintOpId } from '@banger/runtime';
import { arg, bool, type CommandSpec } from '../command.js';
import { followOperation } from '../operation.js';
import { printOpResult } from '../render/results.js';
import { cancelImageOperation } from './image-build.js';

export const kernelPullCommand: CommandSpec = {
  path: ['kernel', 'pull'],
  ownsInterrupt: true,
  summary: 'Fetch, verify and install a catalog kernel with its initramfs, following its stages live',
  usage: 'NAME [--rm-on-detach]',
  args: { min: 1, max: 1, names: 'NAME' },
  options: {
    'rm-on-detach': { type: 'boolean', description: 'cancel the pull when detached (Ctrl-C)' },
  },
  async run(ctx, args) {
    const rm = bool(args.values, 'rm-on-detach');
    const opId = mintOpId();
    const stream = ctx.imaged().serverStream('pullKernel', { name: arg(args, 0), force: false, cancelOnDetach: rm }, { opId });
    return followOperation(ctx, stream, { opId, reattach: 'banger ops watch', onResult: printOpResult(ctx), ...(rm ? { cancelOnInterrupt: cancelImageOperation(ctx) } : {}) });
  },
};
