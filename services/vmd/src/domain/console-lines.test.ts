import { describe, expect, it } from 'vitest';
import { ConsoleLineSplitter, MAX_CONSOLE_LINE } from './console-lines.js';

describe('ConsoleLineSplitter', () => {
  it('holds the unfinished line until its newline or a flush', () => {
    const s = new ConsoleLineSplitter();
    expect(s.push(Buffer.from('a\nb'))).toEqual(['a']);
    expect(s.push(Buffer.from('c\n'))).toEqual(['bc']);
    expect(s.push(Buffer.from('login: '))).toEqual([]);
    expect(s.flush()).toEqual(['login: ']);
    expect(s.flush()).toEqual([]);
  });

  it('decodes UTF-8 split across chunks', () => {
    const s = new ConsoleLineSplitter();
    const e = Buffer.from('é\n');
    expect(s.push(e.subarray(0, 1))).toEqual([]);
    expect(s.push(e.subarray(1))).toEqual(['é']);
  });

  it('never holds more than one line cap of a guest that sends no newline', () => {
    const s = new ConsoleLineSplitter();
    const lines = s.push(Buffer.alloc(MAX_CONSOLE_LINE * 3 + 5, 0x61));
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.length === MAX_CONSOLE_LINE)).toBe(true);
    expect(s.flush()).toEqual(['aaaaa']);
  });
});
