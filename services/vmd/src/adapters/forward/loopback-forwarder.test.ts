import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ForwardUpkeep } from '../../app/auto-forward.js';
import type { Vm } from '../../domain/vm.js';
import type { GuestConnector } from '../../ports/guest-connect.js';
import { sampleVm } from '../../testing/sample-vm.js';
import { LoopbackForwarder } from './loopback-forwarder.js';

/** A stand-in guest: each "guest port" is a local server answering `guest:<port>` and echoing. */
class FakeGuest implements GuestConnector {
  readonly servers = new Map<number, Server>();
  readonly asked: number[] = [];
  async listen(port: number): Promise<void> {
    const srv = createServer((c) => {
      c.write(`guest:${port}\n`);
      c.pipe(c);
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    this.servers.set(port, srv);
  }
  async connect(_vmId: string, port: number): Promise<Socket> {
    this.asked.push(port);
    const srv = this.servers.get(port);
    if (!srv) throw Object.assign(new Error('refused'), { reason: 'GUEST_PORT_REFUSED' });
    const s = connect((srv.address() as AddressInfo).port, '127.0.0.1');
    await once(s, 'connect');
    return s;
  }
  close(): void {
    for (const s of this.servers.values()) s.close();
  }
}

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function greet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    c.once('data', (d: Buffer) => {
      resolve(d.toString().trim());
      c.destroy();
    });
    c.once('error', reject);
  });
}

const withForwards = (vm: Vm, auto: boolean, ports: { guestPort: number; hostPort: number }[]): Vm => ({ ...vm, spec: { ...vm.spec, forwards: { auto, ports } } });

describe('LoopbackForwarder', () => {
  const guest = new FakeGuest();
  const fwd = new LoopbackForwarder(guest, pino({ level: 'silent' }));
  beforeAll(async () => {
    await guest.listen(22);
    await guest.listen(4096);
  });
  afterEach(async () => fwd.retain(new Set()));
  afterAll(async () => {
    await fwd.close();
    guest.close();
  });

  it('relays a manual forward while the VM runs and closes it when it stops', async () => {
    const host = await freePort();
    const vm = withForwards(sampleVm(), false, [{ guestPort: 22, hostPort: host }]);
    expect(await fwd.sync(vm)).toEqual([{ guestPort: 22, hostAddress: '127.0.0.1', hostPort: host, auto: false, connections: 0, problem: '' }]);
    expect(await greet(host)).toBe('guest:22');
    expect(fwd.list(vm.id)[0]?.connections).toBe(1);
    expect(await fwd.sync({ ...vm, state: 'stopped' })).toEqual([]);
    await expect(greet(host)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('relays what the client sends first (HTTP-style) and the answer back', async () => {
    const host = await freePort();
    const vm = withForwards(sampleVm(), false, [{ guestPort: 22, hostPort: host }]);
    await fwd.sync(vm);
    const got = await new Promise<string>((resolve, reject) => {
      const c = connect(host, '127.0.0.1', () => c.write('ping\n'));
      let buf = '';
      c.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('ping')) {
          resolve(buf);
          c.destroy();
        }
      });
      c.once('error', reject);
    });
    expect(got).toBe('guest:22\nping\n');
  });

  it('forwards discovered listeners only with auto on; a manual forward wins on the same host port', async () => {
    const vm = withForwards(sampleVm(), true, []);
    const port = await freePort();
    await guest.listen(port);
    expect((await fwd.sync(vm, [port])).map((f) => [f.hostPort, f.auto])).toEqual([[port, true]]);
    expect(await greet(port)).toBe(`guest:${port}`);
    // The same host port claimed by hand, relaying to another guest port.
    const manual = withForwards(vm, true, [{ guestPort: 4096, hostPort: port }]);
    expect((await fwd.sync(manual)).map((f) => [f.hostPort, f.guestPort, f.auto])).toEqual([[port, 4096, false]]);
    expect(await greet(port)).toBe('guest:4096');
    expect(await fwd.sync(withForwards(vm, false, []))).toEqual([]);
  });

  it('reports a host port another program holds instead of failing, and retries an automatic one', async () => {
    const squatter = createServer().listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    const taken = (squatter.address() as AddressInfo).port;
    const vm = withForwards(sampleVm(), true, []);
    const [state] = await fwd.sync(vm, [taken]);
    expect(state).toMatchObject({ hostPort: taken, problem: `host port ${taken} is in use by another program` });
    await new Promise((r) => squatter.close(r));
    await guest.listen(taken);
    expect((await fwd.sync(vm, [taken]))[0]?.problem).toBe('');
  });

  it('a sync with an older read of the VM does not undo a forward a newer one added', async () => {
    const host = await freePort();
    const old = withForwards({ ...sampleVm(), updatedAt: new Date(1000) }, false, []);
    const added = withForwards({ ...sampleVm(), updatedAt: new Date(2000) }, false, [{ guestPort: 22, hostPort: host }]);
    await fwd.sync(added);
    expect(await fwd.sync(old)).toEqual([expect.objectContaining({ hostPort: host, guestPort: 22 })]);
    expect(await greet(host)).toBe('guest:22');
  });

  it('a guest that refuses drops the one connection, not the forward', async () => {
    const host = await freePort();
    const vm = withForwards(sampleVm(), false, [{ guestPort: 9, hostPort: host }]);
    await fwd.sync(vm);
    const c = connect(host, '127.0.0.1');
    await once(c, 'close');
    expect(fwd.list(vm.id)).toHaveLength(1);
  });
});

describe('ForwardUpkeep', () => {
  it('reads the VM again after the slow guest listing, so a stop made meanwhile closes its forwards; a deleted VM loses them', async () => {
    const guest = new FakeGuest();
    await guest.listen(22);
    const fwd = new LoopbackForwarder(guest, pino({ level: 'silent' }));
    const host = await freePort();
    let current: Vm = withForwards(sampleVm(), true, [{ guestPort: 22, hostPort: host }]);
    let rows: Vm[] = [current];
    const upkeep = new ForwardUpkeep({
      vms: { list: async () => rows, getById: async () => current },
      forwards: fwd,
      ports: {
        run: async () => {
          // The VM stops while its listeners are being read.
          current = { ...current, state: 'stopped' };
          return { vm: current, ports: [], forwards: [] };
        },
      },
    });
    await fwd.sync(current);
    expect(fwd.list(current.id)).toHaveLength(1);
    await upkeep.tick();
    expect(fwd.list(current.id)).toEqual([]);
    current = { ...current, state: 'running' };
    rows = [current];
    await fwd.sync(current);
    rows = [];
    await upkeep.tick();
    expect(fwd.list(current.id)).toEqual([]);
    await fwd.close();
    guest.close();
  });
});
