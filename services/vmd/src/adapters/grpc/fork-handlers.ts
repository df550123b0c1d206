import type { vmv1 } from '@banger/api';
import { streamOperation } from '@banger/operations';
import { serverStream } from '@banger/runtime';
import type { HandlerDeps } from './use-cases.js';

/** ForkVm: proto → command → use case; events (per-clone stages, the ForkResult) as stored. */
export function forkHandlers(deps: HandlerDeps): Pick<vmv1.VmServiceServer, 'forkVm'> {
  const { useCases: uc, events } = deps;
  return {
    forkVm: serverStream<vmv1.ForkVmRequest, vmv1.ForkVmResponse>(async (req, ctx, send) => {
      await streamOperation(deps, ctx, { kind: 'vm_fork', target: req.ref, cancelOnDetach: false }, (op) => uc.forkVm.run({ ref: req.ref, count: req.count, prefix: req.prefix, noWait: req.noWait }, op), (e) => send({ event: events.stored(e) }));
    }),
  };
}
