import { describe, expect, it } from 'vitest';
import { KeyedLock } from './keyed-lock.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('KeyedLock', () => {
  it('runs work on one key in arrival order, one at a time, and other keys alongside', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const job = (key: string, name: string) =>
      lock.run(key, async () => {
        log.push(`${name} in`);
        await tick();
        log.push(`${name} out`);
      });
    await Promise.all([job('a', 'a1'), job('a', 'a2'), job('b', 'b1')]);
    expect(log.indexOf('a1 out')).toBeLessThan(log.indexOf('a2 in'));
    expect(log.indexOf('b1 in')).toBeLessThan(log.indexOf('a1 out'));
    expect(lock.isHeld('a')).toBe(false);
  });

  it('keeps going after a holder fails', async () => {
    const lock = new KeyedLock();
    await expect(lock.run('a', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run('a', async () => 7)).toBe(7);
    expect(lock.isHeld('a')).toBe(false);
  });

  it('refuses at once with the holder named when asked not to wait', async () => {
    const lock = new KeyedLock();
    let release: () => void = () => undefined;
    const holding = lock.run('vm1', () => new Promise<void>((r) => (release = r)), 'stop');
    await expect(lock.tryRun('vm1', 'delete', async () => 1, (holder) => new Error(`busy with ${holder}`))).rejects.toThrow('busy with stop');
    expect(await lock.tryRun('vm2', 'delete', async () => 2, () => new Error('no'))).toBe(2);
    release();
    await holding;
    expect(await lock.tryRun('vm1', 'delete', async () => 3, () => new Error('no'))).toBe(3);
  });
});
