import * as vmv1 from '@banger/api/vm';
import { arg, str, type CommandSpec } from '../command.js';
import { msToDuration } from '@banger/runtime/duration';
import { parseDuration } from '../parse/units.js';
import { vmState } from '../render/vm.js';

export const vmStopCommand: CommandSpec = {
  path: ['vm', 'stop'],
  summary: 'Stop a VM gracefully, killing it after a timeout',
  usage: 'REF [--timeout DURATION]',
  description: 'Here --timeout is the graceful shutdown timeout (default: the daemon\'s); the RPC deadline is that plus 30s.',
  args: { min: 1, max: 1, names: 'REF' },
  options: { timeout: { type: 'string', value: 'DURATION', description: 'how long to wait for a clean shutdown before killing, e.g. 30s' } },
  async run(ctx, args) {
    const t = str(args.values, 'timeout');
    const ms = t ? parseDuration('--timeout', t) : undefined;
    const request = vmv1.StopVmRequest.fromPartial({ ref: arg(args, 0), ...(ms !== undefined ? { timeout: msToDuration(ms) } : {}) });
    const res = await ctx.vmd().unary('stopVm', request, ctx.callOptions(ms !== undefined ? { timeoutMs: ms + 30_000 } : {}));
    if (ctx.json) ctx.printJson(vmv1.StopVmResponse.toJSON(res));
    else ctx.line(`vm ${res.vm?.name ?? arg(args, 0)} ${res.vm ? vmState(res.vm) : 'stopped'}${res.forced ? ' (killed after the graceful timeout)' : ''}`);
    return 0;
  },
};
