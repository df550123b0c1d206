import { describe, expect, it } from 'vitest';
import { mirrorFromDeb822, mirrorFromList } from './mirror.js';

describe('host mirror detection', () => {
  it('reads deb822 sources and ignores other suites, deb-src and disabled stanzas', () => {
    const text = `Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Enabled: no

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
`;
    expect(mirrorFromDeb822(text, 'bookworm')).toBe('http://deb.debian.org/debian');
    expect(mirrorFromDeb822(text, 'bookworm-security')).toBe('http://deb.debian.org/debian-security');
    expect(mirrorFromDeb822(text, 'trixie')).toBeUndefined();
  });

  it('reads one-line sources with options', () => {
    const text = '# comment\ndeb-src http://x/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.local/debian bookworm main\n';
    expect(mirrorFromList(text, 'bookworm')).toBe('http://mirror.local/debian');
  });
});
