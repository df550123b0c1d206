import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../errors.js';
import { failureEvent, StageFailure, StageRunner, type OpEventBody } from './events.js';

describe('StageRunner', () => {
  it('emits started/finished with a duration and returns the value', async () => {
    const events: OpEventBody[] = [];
    const runner = new StageRunner(async (e) => void events.push(e));
    const v = await runner.run('disks', 'root overlay', async () => 42);
    expect(v).toBe(42);
    expect(events.map((e) => e.type)).toEqual(['stage_started', 'stage_finished']);
    expect(events[1]).toMatchObject({ stage: 'disks', ok: true });
    expect(typeof (events[1] as { durationMs: number }).durationMs).toBe('number');
  });

  it('marks the stage failed and reports it in the failure event', async () => {
    const events: OpEventBody[] = [];
    const runner = new StageRunner(async (e) => void events.push(e));
    const err = await runner.run('preflight', 'checks', async () => {
      throw new NotFoundError('image', 'debian');
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageFailure);
    expect(events[1]).toMatchObject({ type: 'stage_finished', ok: false, message: 'image "debian" not found' });
    expect(failureEvent(err, 'op-aaaaaaaaaaaa')).toMatchObject({ stage: 'preflight', code: 'NOT_FOUND', reason: 'NOT_FOUND', opId: 'op-aaaaaaaaaaaa' });
  });

  it('does not leak unexpected error messages into failure events', () => {
    const f = failureEvent(new StageFailure('boot', new Error('EACCES /root/secret')), 'op-aaaaaaaaaaaa');
    expect(f).toMatchObject({ stage: 'boot', code: 'INTERNAL', message: 'internal error' });
  });
});
