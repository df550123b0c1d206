import { type imagev1 } from '@banger/api';
import { commonEventBodyToProto, type OpEventBody } from '@banger/runtime';
import type { OperationEvent } from '@banger/store';
import { imageFromJson, kernelFromJson } from '../../app/serialize.js';
import { imageToProto } from './image-convert.js';
import { kernelToProto } from './kernel-convert.js';

type JsonRecord = Record<string, unknown>;

function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A domain operation event as imaged's wire event. The final `result` body is
 * `{ kernel, unchanged }` for a kernel pull and `{ image, unchanged }` for a build or promotion,
 * the objects being serialised domain kernels/images (see app/serialize.ts).
 */
export function imageEventToProto(opId: string, seq: number, body: OpEventBody, time: Date = new Date()): imagev1.OperationEvent {
  if (body.type === 'result') {
    const unchanged = body.result['unchanged'] === true;
    const kernel = body.result['kernel'];
    if (isRecord(kernel)) {
      return { opId, seq, time, body: { $case: 'kernel', value: { kernel: kernelToProto(kernelFromJson(kernel)), unchanged } } };
    }
    const image = body.result['image'];
    return { opId, seq, time, body: { $case: 'image', value: { image: isRecord(image) ? imageToProto(imageFromJson(image)) : undefined, unchanged } } };
  }
  return { opId, seq, time, body: commonEventBodyToProto(body) };
}

/** A stored event (its JSON is the OpEventBody the use case emitted) with its store-assigned seq and time. */
export function storedImageEventToProto(event: OperationEvent): imagev1.OperationEvent {
  return imageEventToProto(event.opId, event.seq, event.event as unknown as OpEventBody, event.at);
}
