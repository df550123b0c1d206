import { describe, expect, it } from 'vitest';
import { parseStanza, resolveFromStanza } from './apt.js';

describe('apt kernel resolution', () => {
  it('follows the flavour metapackage to the versioned image', () => {
    const s = parseStanza(`Package: linux-image-cloud-amd64
Source: linux-signed-amd64 (6.1.192+2)
Version: 6.1.192-2
Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)
Description: Linux for x86-64 cloud (meta-package)

Package: linux-image-cloud-amd64
Version: 6.1.176-1
`);
    expect(resolveFromStanza(s)).toEqual({ package: 'linux-image-6.1.0-56-cloud-amd64', version: '6.1.192-2', release: '6.1.0-56-cloud-amd64' });
  });

  it('accepts an already versioned image package', () => {
    const s = parseStanza('Package: linux-image-6.1.0-56-amd64\nVersion: 6.1.192-2\nDepends: kmod, linux-base (>= 4.3~)\n');
    expect(resolveFromStanza(s).release).toBe('6.1.0-56-amd64');
  });

  it('fails clearly when nothing resolves', () => {
    expect(() => resolveFromStanza(parseStanza('Package: foo\nVersion: 1\nDepends: bar\n'))).toThrow(
      expect.objectContaining({ reason: 'KERNEL_UNRESOLVABLE' }),
    );
  });
});
