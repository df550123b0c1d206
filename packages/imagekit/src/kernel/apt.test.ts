import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aptOptions, parseStanza, resolveFromStanza } from './apt.js';

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

describe('aptOptions', () => {
  it('uses the system state by default, and a private lists/cache dir when given one', async () => {
    expect(await aptOptions()).toEqual([]);
    const dir = await mkdtemp(join(tmpdir(), 'banger-apt-'));
    try {
      const opts = await aptOptions({ privateDir: dir });
      expect(opts).toEqual(['-o', `Dir::State::Lists=${join(dir, 'lists')}`, '-o', `Dir::Cache=${join(dir, 'cache')}`]);
      // apt-get refuses to run without the partial dirs; they are made up front.
      expect((await stat(join(dir, 'lists', 'partial'))).isDirectory()).toBe(true);
      expect((await stat(join(dir, 'cache', 'archives', 'partial'))).isDirectory()).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
