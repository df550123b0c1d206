import { vmv1 } from '@banger/api';
import { commonEventBodyToProto, type OpEventBody } from '@banger/runtime';

/** A domain operation event as vmd's wire event (the final `result` case carries a Vm). */
export function vmEventToProto(opId: string, seq: number, body: OpEventBody, time: Date = new Date()): vmv1.OperationEvent {
  if (body.type === 'result') {
    return { opId, seq, time, body: { $case: 'vm', value: vmv1.Vm.fromPartial(body.result as Partial<vmv1.Vm>) } };
  }
  return { opId, seq, time, body: commonEventBodyToProto(body) };
}
