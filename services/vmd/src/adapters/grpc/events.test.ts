import { describe, expect, it } from 'vitest';
import { storedVmEventToProto } from './events.js';

describe('storedVmEventToProto', () => {
  it('keeps the store-assigned seq and time and converts the body', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const ev = storedVmEventToProto({ opId: 'op-aaaaaaaaaaaa', seq: 7, at, event: { type: 'stage_finished', stage: 'boot', durationMs: 12, ok: true } });
    expect(ev).toMatchObject({ opId: 'op-aaaaaaaaaaaa', seq: 7, time: at, body: { $case: 'stageFinished', value: { stage: 'boot', durationMs: 12, ok: true } } });
  });

  it('turns a result into the final Vm', () => {
    const ev = storedVmEventToProto({ opId: 'op-aaaaaaaaaaaa', seq: 9, at: new Date(), event: { type: 'result', result: { id: 'abc', name: 'web' } } });
    expect(ev.body).toMatchObject({ $case: 'vm', value: { id: 'abc', name: 'web' } });
  });
});
