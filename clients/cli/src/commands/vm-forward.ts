import * as vmv1 from '@banger/api/vm';
import { arg, str, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { parsePort, parsePortPair } from '../parse/units.js';
import { forwardLine } from '../render/vm.js';

export const vmForwardCommand: CommandSpec = {
  path: ['vm', 'forward'],
  summary: 'Forward a host loopback port to a guest port, or switch automatic forwarding',
  usage: 'REF GUEST_PORT[:HOST_PORT] | REF --auto on|off',
  description:
    'Listens on 127.0.0.1:HOST_PORT (default: the guest port) and relays each connection to the guest,\nalso when VMs live in a network namespace. Forwards are kept with the VM, run while it runs and\nshow in `vm ports` and `vm show`. Guest TCP listeners on ports >= 1024 are forwarded to the same\nhost port automatically unless turned off (here, or with `vm create --no-forward`).',
  args: { min: 1, max: 2, names: 'REF [GUEST_PORT[:HOST_PORT]]' },
  options: { auto: { type: 'string', value: 'on|off', description: 'turn automatic forwarding of guest listeners on or off' } },
  async run(ctx, args) {
    const ref = arg(args, 0);
    const auto = str(args.values, 'auto');
    if (auto !== undefined) {
      if (args.positionals.length > 1) throw new UsageError('--auto takes no port argument');
      if (auto !== 'on' && auto !== 'off') throw new UsageError(`--auto: expected on or off, got ${JSON.stringify(auto)}`);
      const res = await ctx.vmd().unary('setAutoForward', { ref, enabled: auto === 'on' }, ctx.callOptions());
      if (ctx.json) ctx.printJson(vmv1.SetAutoForwardResponse.toJSON(res));
      else ctx.line(`automatic forwarding ${res.enabled ? 'on' : 'off'} for ${ref}`);
      return 0;
    }
    if (args.positionals.length < 2) throw new UsageError('expected GUEST_PORT[:HOST_PORT] (or --auto on|off)');
    const { guestPort, hostPort } = parsePortPair(arg(args, 1));
    const res = await ctx.vmd().unary('forwardPort', { ref, guestPort, hostPort, hostAddress: '' }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.ForwardPortResponse.toJSON(res));
    else if (res.forward) ctx.line(forwardLine(res.forward));
    return 0;
  },
};

export const vmUnforwardCommand: CommandSpec = {
  path: ['vm', 'unforward'],
  summary: 'Stop and forget a port forward',
  usage: 'REF HOST_PORT',
  args: { min: 2, max: 2, names: 'REF HOST_PORT' },
  async run(ctx, args) {
    const res = await ctx.vmd().unary('unforwardPort', { ref: arg(args, 0), hostPort: parsePort('HOST_PORT', arg(args, 1)) }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.UnforwardPortResponse.toJSON(res));
    else ctx.line(res.removed ? `forward on port ${arg(args, 1)} removed` : `no manual forward on port ${arg(args, 1)}`);
    return 0;
  },
};
