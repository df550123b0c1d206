import { InvalidArgumentError, unary } from '@banger/runtime';
import type { vmv1 } from '@banger/api';
import { vmStateFromProto } from './vm-convert.js';
import type { HandlerDeps } from './use-cases.js';

/** GetVm, ListVms, TouchVm: proto → command → use case → proto. */
export function queryHandlers(deps: HandlerDeps): Pick<vmv1.VmServiceServer, 'getVm' | 'listVms' | 'touchVm'> {
  const { useCases: uc, view } = deps;
  return {
    getVm: unary<vmv1.GetVmRequest, vmv1.GetVmResponse>(async (req) => {
      const { vm, jail, forwards } = await uc.getVm.run({ ref: req.ref });
      return { vm: view.toProto(vm, { includeSecrets: req.includeSecrets, jail, forwards }) };
    }),
    listVms: unary<vmv1.ListVmsRequest, vmv1.ListVmsResponse>(async (req) => {
      const states = req.states.map((s) => {
        const state = vmStateFromProto(s);
        if (!state) throw new InvalidArgumentError('states', `unknown vm state ${s}`, 'INVALID_VM_STATE');
        return state;
      });
      return { vms: (await uc.listVms.run({ states, image: req.image })).map((vm) => view.toProto(vm)) };
    }),
    touchVm: unary<vmv1.TouchVmRequest, vmv1.TouchVmResponse>(async (req) => ({ vm: view.toProto(await uc.touchVm.run({ ref: req.ref })) })),
  };
}
