import * as vmv1 from '@banger/api/vm';
import { str, strs, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { VM_TABLE_HEADERS, vmRow } from '../render/vm.js';

export function parseVmState(raw: string): vmv1.VmState {
  const v = vmv1.vmStateFromJSON(`VM_STATE_${raw.toUpperCase()}`);
  if (v === vmv1.VmState.UNRECOGNIZED || v === vmv1.VmState.VM_STATE_UNSPECIFIED) {
    throw new UsageError(`--state: unknown VM state ${JSON.stringify(raw)}`, 'use creating, starting, running, stopping, stopped, error or deleting');
  }
  return v;
}

export const vmListCommand: CommandSpec = {
  path: ['vm', 'list'],
  summary: 'List VMs',
  usage: '[--state STATE]... [--image IMAGE]',
  options: {
    state: { type: 'string', multiple: true, value: 'STATE', description: 'only VMs in this state (running, stopped, ...)' },
    image: { type: 'string', value: 'IMAGE', description: 'only VMs created from this image' },
  },
  async run(ctx, { values }) {
    const request = vmv1.ListVmsRequest.fromPartial({ states: strs(values, 'state').map(parseVmState), image: str(values, 'image') ?? '' });
    const res = await ctx.vmd().unary('listVms', request, ctx.callOptions());
    if (ctx.json) {
      ctx.printJson(vmv1.ListVmsResponse.toJSON(res));
      return 0;
    }
    if (res.vms.length === 0) {
      ctx.line("no VMs; create one with 'banger vm create --name NAME'");
      return 0;
    }
    const now = ctx.now();
    ctx.table(VM_TABLE_HEADERS, res.vms.map((vm) => vmRow(vm, now)));
    return 0;
  },
};
