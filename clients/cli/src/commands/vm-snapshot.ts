import { mintOpId } from '@banger/runtime';
import { arg, requireStr, type CommandSpec } from '../command.js';
import { followOperation } from '../operation.js';
import { printOpResult } from '../render/results.js';

export const vmSnapshotCommand: CommandSpec = {
  path: ['vm', 'snapshot'],
  ownsInterrupt: true,
  summary: 'Take a named snapshot of a running VM (state, RAM and disks); the VM keeps running',
  usage: 'REF --as NAME',
  description: 'The VM is paused while its state is saved and its disks are copied, then runs on. Ctrl-C detaches without cancelling.',
  args: { min: 1, max: 1, names: 'REF' },
  options: {
    as: { type: 'string', value: 'NAME', description: "the snapshot's name (DNS label, unique among snapshots)" },
  },
  async run(ctx, args) {
    const opId = mintOpId();
    const stream = ctx.vmd().serverStream('snapshotVm', { ref: arg(args, 0), name: requireStr(args.values, 'as') }, { opId });
    return followOperation(ctx, stream, { opId, reattach: 'banger vm watch', onResult: printOpResult(ctx) });
  },
};
