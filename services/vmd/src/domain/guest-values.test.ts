import { describe, expect, it } from 'vitest';
import { guestSecret, guestText, MAX_GUEST_TEXT } from './guest-values.js';

describe('guestText', () => {
  it('replaces control characters and cuts long text', () => {
    expect(guestText(Buffer.from('bad\x1b[2Jthing\r\n'))).toBe('bad\ufffd[2Jthing');
    expect(guestText('x'.repeat(10_000))).toHaveLength(MAX_GUEST_TEXT + 1);
    expect(guestText(Buffer.from('a\tb\nc'))).toBe('a\tb\nc');
  });
});

describe('guestSecret', () => {
  it('takes what the images generate, trimmed', () => {
    expect(guestSecret(Buffer.from('Zm9vYmFyYmF6cXV4\n'))).toEqual({ secret: 'Zm9vYmFyYmF6cXV4' });
  });

  it.each([
    ['', 'empty'],
    ['has space', 'not printable ASCII without spaces'],
    ['esc\x1b[0m', 'not printable ASCII without spaces'],
    ['caf\xc3\xa9', 'not printable ASCII without spaces'],
    ['x'.repeat(2000), 'longer than 1024 characters'],
  ])('refuses %j (%s)', (raw, refused) => {
    expect(guestSecret(Buffer.from(raw, 'latin1'))).toEqual({ refused });
  });
});
