import { execFile } from 'node:child_process';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, chmod, chown } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { tcpConnectInNetns } from '@banger/sys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveConnect } from '../../services/privhelper/src/adapters/connect/connect-server.js';
import { BridgeAdapter, NetRunner } from '../../services/privhelper/src/adapters/net/index.js';
import type { UnixListener } from '@banger/runtime';
import { bangerAccount } from '../harness/accounts.js';
import { Netns, netnsUnavailableReason } from '../harness/netns.js';

const run = promisify(execFile);
const skip = netnsUnavailableReason();
if (skip) console.warn(`[integration/net] ConnectGuest tests skipped: ${skip}`);

const CLIENT = fileURLToPath(new URL('./connect-client.ts', import.meta.url));
const BR = 'bgr-t7';
const GW = '172.30.7.1';
const GUEST = { vmId: 'vm-g', tap: 'bgrtap97', ip: '172.30.7.10', port: 2222 };

/**
 * Issue 16, part 4/5: the guest connection vmd cannot open itself. The VM network lives in a
 * namespace (H) that only root can enter; a fake guest (G) listens on it. privhelper's connect
 * channel runs here (root), and the caller is the real `banger` uid running vmd's own client
 * adapter, exactly as vmd would. What the guest sends first must reach the caller intact: root
 * hands the socket over and never reads from it.
 */
describe.skipIf(skip !== undefined)('ConnectGuest: privhelper opens the guest connection, vmd gets the socket', () => {
  let h: Netns, g: Netns;
  let dir: string;
  let listener: UnixListener;
  let guestServer: ChildProcess;
  const account = bangerAccount();
  let socketPath: string;

  async function asUid(uid: number, gid: number, vmId: string, port: number): Promise<{ ok: boolean; got?: string; code?: string; reason?: string; message?: string }> {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', CLIENT, socketPath, vmId, String(port)], { uid, gid, env: { ...process.env, HOME: '/nonexistent' }, timeout: 20_000 });
    return JSON.parse(stdout.trim()) as { ok: boolean };
  }

  beforeAll(async () => {
    [h, g] = await Promise.all([Netns.create(), Netns.create()]);
    await new BridgeAdapter(new NetRunner({ netns: h.name })).ensure({ bridge: BR, gatewayCidr: `${GW}/24` });
    await h.must('ip', ['link', 'add', GUEST.tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', g.name]);
    await h.must('ip', ['link', 'set', GUEST.tap, 'master', BR, 'up']);
    await g.must('ip', ['addr', 'add', `${GUEST.ip}/24`, 'dev', 'eth0']);
    await g.must('ip', ['link', 'set', 'eth0', 'up']);
    // The guest speaks first (like sshd's banner), then echoes what it is sent.
    const w = g.wrap('python3', ['-c', `import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',${GUEST.port}))\ns.listen()\nprint('up',flush=True)\nwhile True:\n  c,a=s.accept()\n  c.sendall(('hello from '+a[0]+'\\n').encode())\n  c.sendall(b'echo:'+c.recv(64))\n  c.close()`]);
    guestServer = spawn(w.file, w.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(guestServer.stdout!, 'data');

    dir = await mkdtemp(join(tmpdir(), 'banger-connect-'));
    await chmod(dir, 0o711);
    socketPath = join(dir, 'connect.sock');
    listener = await serveConnect({
      socketPath,
      stagingDir: dir,
      socketGroupGid: account.gid,
      allowedUids: new Set([account.uid]),
      deps: { guestAddress: (id) => (id === GUEST.vmId ? GUEST.ip : undefined), netnsPath: `/run/netns/${h.name}`, connect: tcpConnectInNetns },
      log: pino({ level: 'silent' }),
    });
    await chown(dir, 0, 0);
  });

  afterAll(async () => {
    await listener?.close();
    guestServer?.kill();
    await Promise.all([g?.destroy(), h?.destroy()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the banger uid gets a connected socket; the guest\'s first bytes arrive intact, from the gateway only H has', async () => {
    const r = await asUid(account.uid, account.gid, GUEST.vmId, GUEST.port);
    expect(r).toEqual({ ok: true, got: `hello from ${GW}\necho:ping\n` });
  });

  it('names only fenced VMs, valid ports: everything else is refused with a reason, nothing connects', async () => {
    expect(await asUid(account.uid, account.gid, 'vm-other', GUEST.port)).toMatchObject({ ok: false, code: 'FAILED_PRECONDITION', reason: 'VM_NOT_FENCED' });
    expect(await asUid(account.uid, account.gid, '../etc', GUEST.port)).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
    expect(await asUid(account.uid, account.gid, GUEST.vmId, 70000)).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT', reason: 'BAD_PORT' });
    expect(await asUid(account.uid, account.gid, GUEST.vmId, 2223)).toMatchObject({ ok: false, code: 'UNAVAILABLE', reason: 'GUEST_PORT_REFUSED' });
  });

  it('a uid that is not an allowed caller is refused (even one that can open the socket)', async () => {
    // nobody, given the socket's group for this test so the refusal is privhelper's uid check, not the file mode.
    const nobody = Number((await run('id', ['-u', 'nobody'])).stdout.trim());
    const r = await asUid(nobody, account.gid, GUEST.vmId, GUEST.port);
    expect(r).toMatchObject({ ok: false, code: 'PERMISSION_DENIED', reason: 'UID_NOT_ALLOWED' });
  });
});
