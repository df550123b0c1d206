import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { parseFileSync } from './file-sync.js';

describe('[[file_sync]]', () => {
  it('reads host, guest and mode, resolving ~/ against the home directory', () => {
    const cfg = parseConfig('[[file_sync]]\nhost = "~/.config/a.json"\nguest = "/root/a.json"\nmode = "0600"\n\n[[file_sync]]\nhost = "/etc/b"\nguest = "/etc/b"\n', 'test.toml', { env: { HOME: '/home/u' }, uid: 1000 });
    expect(cfg.fileSync).toEqual([
      { host: '/home/u/.config/a.json', guest: '/root/a.json', mode: 0o600 },
      { host: '/etc/b', guest: '/etc/b', mode: undefined },
    ]);
  });

  it('is empty without entries', () => {
    expect(parseConfig('', 'test.toml', { env: {}, uid: 1000 }).fileSync).toEqual([]);
  });

  it.each([
    [[{ host: 'relative', guest: '/a' }], /file_sync\[0\]\.host/],
    [[{ host: '/a', guest: 'rel' }], /file_sync\[0\]\.guest/],
    [[{ host: '/a', guest: '/dir/' }], /file_sync\[0\]\.guest/],
    [[{ host: '/a', guest: '/a', mode: 600 }], /file_sync\[0\]\.mode: expected an octal mode string/],
    [[{ host: '/a', guest: '/a', owner: 'root' }], /file_sync\[0\]\.owner: unknown key/],
    [{ host: '/a' }, /array of tables/],
  ])('refuses %j, naming the key', (raw, message) => {
    expect(() => parseFileSync(raw, 'test.toml', '/home/u')).toThrow(message);
  });
});
