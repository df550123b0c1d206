import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QmpEvent } from './qmp.js';
import { QmpClient } from './qmp.js';

/** A scripted QMP peer: greets, answers by command name, records what it was sent. */
function fakeQmp(sockPath: string, answer: (cmd: { execute: string; id?: string; arguments?: unknown }, sock: net.Socket) => void) {
  const received: Array<{ execute: string; arguments?: unknown }> = [];
  const server = net.createServer((sock) => {
    sock.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}\r\n');
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const cmd = JSON.parse(buf.slice(0, nl)) as { execute: string; id?: string; arguments?: unknown };
        buf = buf.slice(nl + 1);
        received.push(cmd);
        answer(cmd, sock);
      }
    });
  });
  return { server, received, listening: new Promise<void>((r) => server.listen(sockPath, r)) };
}

let dir = '';
let sock = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'banger-qmp-'));
  sock = path.join(dir, 'qmp.sock');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('QmpClient', () => {
  it('handshakes, matches replies by id (even out of order), and surfaces events', async () => {
    const pendingStatus: Array<() => void> = [];
    const fake = fakeQmp(sock, (cmd, s) => {
      if (cmd.execute === 'query-status') {
        pendingStatus.push(() => s.write(`{"return": {"status": "running", "running": true}, "id": "${cmd.id}"}\r\n`));
      } else if (cmd.execute === 'send-key') {
        s.write('{"event": "RESET", "data": {"guest": true}, "timestamp": {"seconds": 1, "microseconds": 2}}\r\n');
        s.write(`{"return": {}, "id": "${cmd.id}"}\r\n`);
        for (const f of pendingStatus.splice(0)) f();
      } else {
        s.write(`{"return": {}, "id": "${cmd.id}"}\r\n`);
      }
    });
    await fake.listening;
    const qmp = await QmpClient.connect(sock);
    const events: QmpEvent[] = [];
    qmp.on('event', (e) => events.push(e));
    const status = qmp.queryStatus();
    await qmp.sendCtrlAltDelete();
    expect(await status).toEqual({ status: 'running', running: true });
    expect(events.map((e) => e.event)).toEqual(['RESET']);
    expect(fake.received.map((c) => c.execute)).toEqual(['qmp_capabilities', 'query-status', 'send-key']);
    expect(fake.received[2]?.arguments).toEqual({ keys: [{ type: 'qcode', data: 'ctrl' }, { type: 'qcode', data: 'alt' }, { type: 'qcode', data: 'delete' }] });
    qmp.close();
    fake.server.close();
  });

  it('turns QMP errors, timeouts and a dead socket into typed errors', async () => {
    const fake = fakeQmp(sock, (cmd, s) => {
      if (cmd.execute === 'qmp_capabilities') s.write(`{"return": {}, "id": "${cmd.id}"}\r\n`);
      else if (cmd.execute === 'bad') s.write(`{"error": {"class": "CommandNotFound", "desc": "nope"}, "id": "${cmd.id}"}\r\n`);
      else if (cmd.execute === 'quit') s.destroy();
    });
    await fake.listening;
    const qmp = await QmpClient.connect(sock);
    await expect(qmp.execute('bad')).rejects.toMatchObject({ kind: 'INTERNAL', reason: 'QMP_ERROR' });
    await expect(qmp.execute('silent', undefined, 100)).rejects.toMatchObject({ kind: 'DEADLINE_EXCEEDED', reason: 'QMP_TIMEOUT' });
    await qmp.quit();
    await expect(qmp.queryStatus()).rejects.toMatchObject({ kind: 'UNAVAILABLE' });
    fake.server.close();
    await expect(QmpClient.connect(path.join(dir, 'missing.sock'))).rejects.toMatchObject({ kind: 'UNAVAILABLE', reason: 'QMP_UNAVAILABLE' });
  });
});
