import * as vmv1 from '@banger/api/vm';
import { mintOpId } from '@banger/runtime';
import { arg, bool, str, type CommandSpec } from '../command.js';
import { followOperation } from '../operation.js';
import { msToDuration } from '@banger/runtime/duration';
import { parseDuration } from '../parse/units.js';
import { printOpResult as printVmResult } from '../render/results.js';

export const vmRestartCommand: CommandSpec = {
  path: ['vm', 'restart'],
  ownsInterrupt: true,
  summary: 'Stop and start a VM, following its stages live',
  usage: 'REF [--stop-timeout DURATION] [--no-wait]',
  args: { min: 1, max: 1, names: 'REF' },
  options: {
    'stop-timeout': { type: 'string', value: 'DURATION', description: 'graceful stop timeout before killing, e.g. 30s' },
    'no-wait': { type: 'boolean', description: 'do not wait for the guest services to be ready' },
  },
  async run(ctx, args) {
    const opId = mintOpId();
    const st = str(args.values, 'stop-timeout');
    const request = vmv1.RestartVmRequest.fromPartial({
      ref: arg(args, 0),
      noWait: bool(args.values, 'no-wait'),
      ...(st ? { stopTimeout: msToDuration(parseDuration('--stop-timeout', st)) } : {}),
    });
    const stream = ctx.vmd().serverStream('restartVm', request, { opId });
    return followOperation(ctx, stream, { opId, reattach: 'banger vm watch', onResult: printVmResult(ctx) });
  },
};
