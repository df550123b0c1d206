import { vmv1 } from '@banger/api';
import { commonEventBodyToProto, type OpEventBody } from '@banger/runtime';
import type { OperationEvent, VmRecord } from '@banger/store';
import { vmToProto } from './vm-convert.js';

const DATE_FIELDS = ['createdAt', 'updatedAt', 'startedAt', 'stoppedAt', 'lastUsedAt'] as const;

/** The VM row a create/start stored in its result event, back to a record (dates revived). */
function reviveVm(json: Record<string, unknown>): VmRecord {
  const vm = { ...json } as Record<string, unknown>;
  for (const f of DATE_FIELDS) vm[f] = typeof vm[f] === 'string' ? new Date(vm[f]) : null;
  return vm as unknown as VmRecord;
}

/** A domain operation event as vmd's wire event (the final `result` case carries a Vm). */
export function vmEventToProto(opId: string, seq: number, body: OpEventBody, time: Date = new Date()): vmv1.OperationEvent {
  if (body.type === 'result') {
    const stored = body.result['vm'];
    const value = stored && typeof stored === 'object' ? vmToProto(reviveVm(stored as Record<string, unknown>)) : vmv1.Vm.fromPartial(body.result as Partial<vmv1.Vm>);
    return { opId, seq, time, body: { $case: 'vm', value } };
  }
  return { opId, seq, time, body: commonEventBodyToProto(body) };
}

/** A stored event (its JSON is the OpEventBody the use case emitted) with its store-assigned seq and time. */
export function storedVmEventToProto(event: OperationEvent): vmv1.OperationEvent {
  return vmEventToProto(event.opId, event.seq, event.event as unknown as OpEventBody, event.at);
}
