import type { vmv1 } from '@banger/api';
import { streamOperation } from '@banger/operations';
import { serverStream, unary } from '@banger/runtime';
import type { HandlerDeps } from './use-cases.js';

type SuspendRpcs = 'pauseVm' | 'resumeVm' | 'suspendVm';

/** Pause, resume and suspend: proto → command → use case → proto. */
export function suspendHandlers(deps: HandlerDeps): Pick<vmv1.VmServiceServer, SuspendRpcs> {
  const { useCases: uc, view, events } = deps;
  return {
    pauseVm: unary<vmv1.PauseVmRequest, vmv1.PauseVmResponse>(async (req) => ({ vm: view.toProto(await uc.pauseVm.run({ ref: req.ref })) })),
    resumeVm: serverStream<vmv1.ResumeVmRequest, vmv1.ResumeVmResponse>(async (req, ctx, send) => {
      await streamOperation(deps, ctx, { kind: 'vm_resume', target: req.ref, cancelOnDetach: false }, (op) => uc.resumeVm.run({ ref: req.ref, noWait: req.noWait }, op), (e) =>
        send({ event: events.stored(e) }),
      );
    }),
    suspendVm: serverStream<vmv1.SuspendVmRequest, vmv1.SuspendVmResponse>(async (req, ctx, send) => {
      await streamOperation(deps, ctx, { kind: 'vm_suspend', target: req.ref, cancelOnDetach: false }, (op) => uc.suspendVm.run({ ref: req.ref }, op), (e) => send({ event: events.stored(e) }));
    }),
  };
}
