import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QgaSession } from '../../services/vmd/src/adapters/agent/qga.js';

const QEMU = '/usr/bin/qemu-system-x86_64';

/** Opens and holds a raw connection, as a caller that never hangs up would. */
function hold(path: string): Promise<{ close(): void }> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => resolve({ close: () => s.destroy() }));
    s.once('error', reject);
  });
}

/**
 * The agent socket wedge against a real QEMU chardev (server, one client at a time, backlog
 * one) whose guest never answers: QEMU is started with -S, so no guest code runs. A connection
 * left open (a failed sync that was not closed) keeps QEMU on it; then one more connection waits
 * in the backlog and every later one gets EAGAIN.
 */
// Opt-in (BANGER_AGENT_BACKLOG=1): it passed at 04:27 on 2026-12-02 and failed later the same
// morning (the third connect was queued instead of refused), so QEMU's accept timing under load
// decides it; the unit test in qga.test.ts covers the fix without that race.
describe.skipIf(!existsSync(QEMU) || process.env['BANGER_AGENT_BACKLOG'] !== '1')('the guest agent socket under a silent agent', () => {
  let dir: string;
  let sock: string;
  let qemu: ChildProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-agent-'));
    sock = join(dir, 'agent.sock');
    qemu = spawn(QEMU, ['-M', 'microvm', '-nodefaults', '-no-user-config', '-display', 'none', '-S', '-device', 'virtio-serial-device', '-chardev', `socket,id=a,path=${sock},server=on,wait=off`, '-device', 'virtserialport,chardev=a,name=org.qemu.guest_agent.0'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  });

  afterAll(async () => {
    if (qemu.pid) qemu.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('QEMU refuses connections with EAGAIN while it serves one client and another waits', async () => {
    const served = await hold(sock);
    // QEMU accepts on its main loop: let it take the first before the second queues.
    await new Promise((r) => setTimeout(r, 500));
    const waiting = await hold(sock);
    await expect(QgaSession.open(sock, 300)).rejects.toMatchObject({ reason: 'AGENT_UNREACHABLE', message: expect.stringContaining('EAGAIN') });
    served.close();
    waiting.close();
  });

  it('failed syncs hang up, so they never fill the backlog: no call ever sees EAGAIN', async () => {
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 4; i++) {
      // Before the fix each failed open left its connection open: the third one got EAGAIN.
      await expect(QgaSession.open(sock, 300)).rejects.toMatchObject({ reason: 'AGENT_TIMEOUT' });
    }
  });
});
