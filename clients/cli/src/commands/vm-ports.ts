import * as vmv1 from '@banger/api/vm';
import { arg, type CommandSpec } from '../command.js';
import { enumLabel } from '../render/format.js';
import { forwardLine } from '../render/vm.js';


export const vmPortsCommand: CommandSpec = {
  path: ['vm', 'ports'],
  summary: 'List the TCP/UDP sockets listening in a VM and how to reach them',
  usage: 'REF',
  args: { min: 1, max: 1, names: 'REF' },
  async run(ctx, args) {
    const res = await ctx.vmd().unary('getVmPorts', { ref: arg(args, 0) }, ctx.callOptions());
    if (ctx.json) {
      ctx.printJson(vmv1.GetVmPortsResponse.toJSON(res));
      return 0;
    }
    if (res.ports.length === 0) ctx.line('no listening sockets');
    else {
      ctx.table(
        ['PROTO', 'ADDRESS', 'PORT', 'PROCESS', 'REACH AT'],
        res.ports.map((p) => [
          enumLabel(vmv1.protocolToJSON(p.protocol), 'PROTOCOL_'),
          p.address,
          String(p.port),
          p.process ? `${p.process}${p.pid ? `[${p.pid}]` : ''}` : '-',
          p.hostAddress || '-',
        ]),
      );
    }
    if (res.forwards.length > 0) {
      ctx.line();
      ctx.line('forwards:');
      for (const f of res.forwards) ctx.line(`  ${forwardLine(f)}`);
    }
    return 0;
  },
};
