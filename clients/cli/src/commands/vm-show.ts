import * as vmv1 from '@banger/api/vm';
import { arg, bool, type CommandSpec } from '../command.js';
import { vmDetails } from '../render/vm.js';
import { knownHostsPath } from '../ssh.js';

export const vmShowCommand: CommandSpec = {
  path: ['vm', 'show'],
  summary: 'Show one VM in detail',
  usage: 'REF [--secrets]',
  description: 'REF is a VM name, id or unique id prefix.',
  args: { min: 1, max: 1, names: 'REF' },
  options: { secrets: { type: 'boolean', description: 'include per-service credentials (e.g. the opencode password)' } },
  async run(ctx, args) {
    const res = await ctx.vmd().unary('getVm', { ref: arg(args, 0), includeSecrets: bool(args.values, 'secrets') }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.GetVmResponse.toJSON(res));
    else if (res.vm) ctx.write(vmDetails(res.vm, { knownHosts: knownHostsPath(ctx.io.env) }));
    return 0;
  },
};
