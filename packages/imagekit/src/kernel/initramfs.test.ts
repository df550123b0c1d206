import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCpio } from './cpio.js';
import { parseModulesDep, resolveModuleOrder } from './initramfs.js';

const DEP = `kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`;

describe('module ordering', () => {
  it('puts dependencies first and keeps the requested order otherwise', () => {
    const dep = parseModulesDep(DEP);
    const { paths, missing } = resolveModuleOrder(['virtio_mmio', 'virtio_net', 'virtio-rng', 'ext4', 'nosuch'], dep, new Set(['ext4']));
    const names = paths.map((p) => path.basename(p, '.ko'));
    expect(names).toEqual(['virtio_ring', 'virtio', 'virtio_mmio', 'failover', 'net_failover', 'virtio_net', 'virtio-rng']);
    expect(missing).toEqual(['nosuch']);
  });
});

const hasCpio = spawnSync('cpio', ['--version']).status === 0;
if (!hasCpio) console.warn('skipping cpio cross-check: cpio not installed');

describe('buildCpio', () => {
  it.skipIf(!hasCpio)('writes a newc archive that GNU cpio lists', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'imagekit-cpio-'));
    try {
      await mkdir(path.join(dir, 'bin'));
      await writeFile(path.join(dir, 'bin/busybox'), 'x'.repeat(13), { mode: 0o755 });
      await symlink('busybox', path.join(dir, 'bin/sh'));
      await writeFile(path.join(dir, 'init'), '#!/bin/sh\n', { mode: 0o755 });
      await mkdir(path.join(dir, 'dev'));
      const archive = await buildCpio(dir, [{ path: 'dev/console', type: 'c', major: 5, minor: 1 }]);
      const out = spawnSync('cpio', ['-itv', '--quiet'], { input: archive });
      expect(out.status).toBe(0);
      const listing = out.stdout.toString();
      expect(listing).toMatch(/^crw-------.*5,\s*1.*dev\/console$/m);
      expect(listing).toMatch(/^lrwxrwxrwx.*bin\/sh -> busybox$/m);
      expect(listing).toMatch(/^-rwxr-xr-x.*13.*bin\/busybox$/m);
      expect(await buildCpio(dir)).toEqual(await buildCpio(dir));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
