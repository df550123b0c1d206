import { imagev1 } from '@banger/api';
import { commonEventBodyToProto, type OpEventBody } from '@banger/runtime';
import type { OperationEvent } from '@banger/store';

/**
 * A domain operation event as imaged's wire event. The final `result` body is
 * `{ kernel: KernelResult }` for a kernel pull and `{ image: ImageResult }` otherwise (both in
 * proto JSON-ish shape, passed to `fromPartial`).
 */
export function imageEventToProto(opId: string, seq: number, body: OpEventBody, time: Date = new Date()): imagev1.OperationEvent {
  if (body.type === 'result') {
    const kernel = body.result['kernel'];
    if (kernel !== undefined) {
      return { opId, seq, time, body: { $case: 'kernel', value: imagev1.KernelResult.fromPartial(kernel as Partial<imagev1.KernelResult>) } };
    }
    return { opId, seq, time, body: { $case: 'image', value: imagev1.ImageResult.fromPartial((body.result['image'] ?? {}) as Partial<imagev1.ImageResult>) } };
  }
  return { opId, seq, time, body: commonEventBodyToProto(body) };
}

/** A stored event (its JSON is the OpEventBody the use case emitted) with its store-assigned seq and time. */
export function storedImageEventToProto(event: OperationEvent): imagev1.OperationEvent {
  return imageEventToProto(event.opId, event.seq, event.event as unknown as OpEventBody, event.at);
}
