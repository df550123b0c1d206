import { closeSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_SEALS, memfdCreate, memfdSeal, memfdSeals } from './memfd.js';

describe('memfd', () => {
  it('is writable until sealed; sealed, it opens read-write by path but refuses every change and keeps its bytes', () => {
    const fd = memfdCreate('banger-test');
    try {
      ftruncateSync(fd, 8192);
      writeSync(fd, Buffer.from('template'), 0, 8, 0);
      expect(memfdSeals(fd)).toBe(0);
      memfdSeal(fd);
      expect(memfdSeals(fd)).toBe(ALL_SEALS);
      const again = openSync(`/proc/self/fd/${fd}`, 'r+');
      try {
        expect(() => writeSync(again, Buffer.from('X'), 0, 1, 0)).toThrow(/EPERM/);
        expect(() => ftruncateSync(again, 0)).toThrow(/EPERM/);
        expect(() => ftruncateSync(again, 16384)).toThrow(/EPERM/);
        expect(() => memfdSeal(again)).toThrow(/EPERM/);
        const buf = Buffer.alloc(8);
        readSync(again, buf, 0, 8, 0);
        expect(buf.toString()).toBe('template');
      } finally {
        closeSync(again);
      }
    } finally {
      closeSync(fd);
    }
  });
});
