import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyKernel } from '@banger/imagekit';
import {
  bootTestGuest, ensureTestGuestArtifacts, guestListening, guestUnsupportedReason, qgaReadFile, sleep, waitFor,
  waitForAgent, TEST_CACHE, type BootedGuest, type TestGuestArtifacts,
} from '../harness/guest.js';

const skip = guestUnsupportedReason();
if (skip) console.warn(`skipping image boot tests: ${skip}`);

describe.skipIf(skip !== undefined)('kernel + initramfs + rootfs boot under QEMU', () => {
  let a: TestGuestArtifacts;
  let runDir: string;
  const guests: BootedGuest[] = [];
  const hostKeys: string[] = [];

  beforeAll(async () => {
    a = await ensureTestGuestArtifacts();
    console.log('artifacts', JSON.stringify(a.timings));
    runDir = await mkdtemp(path.join(TEST_CACHE, 'run-'));
  }, 900_000);

  afterAll(async () => {
    for (const g of guests) await g.stop(5_000).catch(() => undefined);
    if (runDir && !process.env['BANGER_KEEP_RUN']) await rm(runDir, { recursive: true, force: true });
  });

  it('staged kernel verifies against its manifest', async () => {
    const k = await verifyKernel(path.dirname(a.vmlinux));
    expect(k.manifest.release).toMatch(/^6\.\d+\.\d+-\d+-cloud-amd64$/);
    expect(k.manifest.missingModules).toEqual([]);
    expect(k.manifest.modules[0]).toMatch(/virtio_ring\.ko$/);
  });

  for (const mode of ['minimal', 'systemd'] as const) {
    it(`boots (${mode} init) to agent ping and opencode listening, then stops gracefully`, async () => {
      const t0 = performance.now();
      const g = await bootTestGuest({ artifacts: a, dir: path.join(runDir, mode), initMode: mode });
      guests.push(g);
      const agentMs = await waitForAgent(g.agentSock, 240_000, g.console);
      await waitFor(() => guestListening(g.agentSock, 4096), 240_000, () => 'opencode never listened on 4096');
      const readyMs = Math.round(performance.now() - t0);
      const hostKey = await qgaReadFile(g.agentSock, '/etc/ssh/ssh_host_ed25519_key.pub');
      expect(hostKey).toMatch(/^ssh-ed25519 /);
      expect(hostKeys).not.toContain(hostKey);
      hostKeys.push(hostKey);
      await waitFor(() => guestListening(g.agentSock, 22), 60_000, () => 'sshd never listened on 22');
      expect(await qgaReadFile(g.agentSock, '/etc/hostname')).toBe('banger-test\n');
      const mounts = await qgaReadFile(g.agentSock, '/proc/mounts');
      expect(mounts).toMatch(/^\/dev\/vdb \/work ext4/m);
      expect(await qgaReadFile(g.agentSock, '/work/.banger-seed')).toContain(a.workSeedFingerprint);
      expect((await qgaReadFile(g.agentSock, '/etc/banger/secrets/opencode')).length).toBeGreaterThanOrEqual(20);
      const tStop = performance.now();
      const how = await g.stop(30_000);
      console.log(JSON.stringify({ mode, agent_ms: agentMs, ready_ms: readyMs, stop_ms: Math.round(performance.now() - tStop), stop: how }));
      expect(how).toBe('graceful');
      await sleep(0);
    }, 600_000);
  }
});
