import { describe, expect, it } from 'vitest';
import { serializeImage, serializeKernel } from '../../app/serialize.js';
import { sampleImage, sampleKernel } from '../../testing/fakes.js';
import { storedImageEventToProto } from './events.js';

describe('storedImageEventToProto', () => {
  it('keeps the store-assigned seq and time and converts shared bodies', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const ev = storedImageEventToProto({ opId: 'op-aaaaaaaaaaaa', seq: 2, at, event: { type: 'progress', stage: 'download', done: 5, total: 10, unit: 'bytes' } });
    expect(ev).toMatchObject({ seq: 2, time: at, body: { $case: 'progress', value: { stage: 'download', done: 5, total: 10, unit: 'bytes' } } });
  });

  it('a kernel result becomes the kernel case, an image result the image case (through the stored JSON)', () => {
    const stored = (result: Record<string, unknown>): Record<string, unknown> => JSON.parse(JSON.stringify({ type: 'result', result })) as Record<string, unknown>;
    const kernel = storedImageEventToProto({ opId: 'op-a', seq: 3, at: new Date(), event: stored({ kernel: serializeKernel(sampleKernel()), unchanged: true }) });
    expect(kernel.body).toMatchObject({ $case: 'kernel', value: { unchanged: true, kernel: { name: 'debian-bookworm-cloud', version: '6.1.0-1-cloud-amd64' } } });
    if (kernel.body?.$case === 'kernel') expect(kernel.body.value.kernel?.installedAt).toEqual(new Date('2026-01-01T00:00:00Z'));
    const image = storedImageEventToProto({ opId: 'op-a', seq: 3, at: new Date(), event: stored({ image: serializeImage(sampleImage()), unchanged: false }) });
    expect(image.body).toMatchObject({ $case: 'image', value: { unchanged: false, image: { name: 'debian-bookworm', kernel: 'debian-bookworm-cloud' } } });
    if (image.body?.$case === 'image') expect(image.body.value.image?.createdAt).toEqual(new Date('2026-01-02T00:00:00Z'));
  });
});
