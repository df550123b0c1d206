import { vmv1 } from '@banger/api';
import { commonEventBodyToProto, type OpEventBody } from '@banger/runtime';
import type { OperationEvent } from '@banger/store';

/** A domain operation event as vmd's wire event (the final `result` case carries a Vm). */
export function vmEventToProto(opId: string, seq: number, body: OpEventBody, time: Date = new Date()): vmv1.OperationEvent {
  if (body.type === 'result') {
    return { opId, seq, time, body: { $case: 'vm', value: vmv1.Vm.fromPartial(body.result as Partial<vmv1.Vm>) } };
  }
  return { opId, seq, time, body: commonEventBodyToProto(body) };
}

/** A stored event (its JSON is the OpEventBody the use case emitted) with its store-assigned seq and time. */
export function storedVmEventToProto(event: OperationEvent): vmv1.OperationEvent {
  return vmEventToProto(event.opId, event.seq, event.event as unknown as OpEventBody, event.at);
}
