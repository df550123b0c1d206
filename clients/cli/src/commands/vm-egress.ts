import * as vmv1 from '@banger/api/vm';
import { arg, type CommandSpec } from '../command.js';
import { formatEgress, parseEgress } from '../parse/egress.js';

export const vmEgressCommand: CommandSpec = {
  path: ['vm', 'egress'],
  summary: "Show or change what a VM may reach on the network",
  usage: 'REF [allow|deny|CIDR,HOSTNAME,...]',
  description: [
    'Without a policy, prints the current one. allow: the internet, never private (RFC 1918), CGNAT,',
    'link-local (cloud metadata), loopback, multicast or host addresses, nor other VMs. deny: nothing',
    'but banger DNS. A list: only those networks (a listed private network is reachable on purpose)',
    'and the addresses the hostnames resolve to through banger DNS. A running VM changes at once.',
  ].join('\n'),
  args: { min: 1, max: 2, names: 'REF [POLICY]' },
  async run(ctx, args) {
    const ref = arg(args, 0);
    if (args.positionals.length < 2) {
      const res = await ctx.vmd().unary('getVm', { ref, includeSecrets: false }, ctx.callOptions());
      if (ctx.json) ctx.printJson({ name: res.vm?.name ?? ref, egress: vmv1.EgressPolicy.toJSON(res.vm?.egress ?? { mode: vmv1.EgressMode.EGRESS_MODE_ALLOW, cidrs: [], hostnames: [] }) });
      else ctx.line(formatEgress(res.vm?.egress));
      return 0;
    }
    const egress = parseEgress('POLICY', arg(args, 1));
    const res = await ctx.vmd().unary('setVmEgress', { ref, egress }, ctx.callOptions());
    if (ctx.json) ctx.printJson(vmv1.SetVmEgressResponse.toJSON(res));
    else ctx.line(`vm ${res.vm?.name ?? ref} egress: ${formatEgress(res.vm?.egress)}${res.applied ? ' (applied to the running VM)' : ' (applies at its next start)'}`);
    return 0;
  },
};
