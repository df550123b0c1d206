import { describe, expect, it } from 'vitest';
import { storedImageEventToProto } from './events.js';

describe('storedImageEventToProto', () => {
  it('keeps the store-assigned seq and time and converts shared bodies', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const ev = storedImageEventToProto({ opId: 'op-aaaaaaaaaaaa', seq: 2, at, event: { type: 'progress', stage: 'download', done: 5, total: 10, unit: 'bytes' } });
    expect(ev).toMatchObject({ seq: 2, time: at, body: { $case: 'progress', value: { stage: 'download', done: 5, total: 10, unit: 'bytes' } } });
  });

  it('a kernel result becomes the kernel case, anything else the image case', () => {
    const kernel = storedImageEventToProto({ opId: 'op-a', seq: 3, at: new Date(), event: { type: 'result', result: { kernel: { unchanged: true } } } });
    expect(kernel.body).toMatchObject({ $case: 'kernel', value: { unchanged: true } });
    const image = storedImageEventToProto({ opId: 'op-a', seq: 3, at: new Date(), event: { type: 'result', result: { image: { unchanged: false } } } });
    expect(image.body).toMatchObject({ $case: 'image', value: { unchanged: false } });
  });
});
