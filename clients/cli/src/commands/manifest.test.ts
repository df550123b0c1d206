import { describe, expect, it } from 'vitest';
import { COMMANDS } from './index.js';
import { COMMAND_ENTRIES } from './manifest.js';

describe('the lazy command manifest', () => {
  it('lists every registered command, in the same order, with its summary and visibility', () => {
    const registered = COMMANDS.map((c) => ({ path: c.path.join(' '), summary: c.summary, hidden: c.hidden === true }));
    const listed = COMMAND_ENTRIES.map((e) => ({ path: e.path.join(' '), summary: e.summary, hidden: e.hidden === true }));
    expect(listed).toEqual(registered);
  });

  it('loads the very spec each entry names', async () => {
    for (const e of COMMAND_ENTRIES) {
      const spec = await e.load();
      expect(spec.path.join(' '), e.path.join(' ')).toBe(e.path.join(' '));
      expect(COMMANDS).toContain(spec);
    }
  });
});
