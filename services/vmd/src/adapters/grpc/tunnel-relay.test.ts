import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { vmv1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { relay } from './forward-handlers.js';

/** A connected loopback pair: `guest` plays the guest's end, `vmd` the socket ConnectGuest hands over. */
async function pair(): Promise<{ guest: Socket; vmd: Socket; close(): void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const vmd = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [guest] = await accepted;
  await once(vmd, 'connect').catch(() => undefined);
  return { guest, vmd, close: () => server.close() };
}

describe('the tunnel relay', () => {
  it('ends when the guest closes although the client never half-closes its side', async () => {
    const { guest, vmd, close } = await pair();
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    // The client sends one message, then keeps its side open (a ProxyCommand whose stdin stays open).
    async function* requests(): AsyncGenerator<vmv1.OpenTunnelRequest> {
      yield { msg: { $case: 'data', value: Buffer.from('hello') } };
      await held;
    }
    const sent: Buffer[] = [];
    const got: Buffer[] = [];
    guest.on('data', (c: Buffer) => {
      got.push(c);
      guest.end('bye');
    });
    const done = relay(vmd, requests(), async (m) => void (m.msg?.$case === 'data' && sent.push(Buffer.from(m.msg.value))), new AbortController().signal);
    await expect(Promise.race([done.then(() => 'ended'), new Promise((r) => setTimeout(r, 3000, 'hung'))])).resolves.toBe('ended');
    expect(Buffer.concat(got).toString()).toBe('hello');
    expect(Buffer.concat(sent).toString()).toBe('bye');
    release();
    close();
  });
});
