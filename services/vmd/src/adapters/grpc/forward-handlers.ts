import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { vmv1 } from '@banger/api';
import { bidiStream, unary, type Send } from '@banger/runtime';
import { InvalidArgumentError } from '@banger/runtime/errors';
import type { HandlerDeps } from './use-cases.js';
import { forwardToProto } from './vm-convert.js';

type ForwardRpcs = 'openTunnel' | 'forwardPort' | 'unforwardPort' | 'setAutoForward';

/** Tunnels and port forwards: proto → use case → proto; the tunnel's bytes are relayed, never read. */
export function forwardHandlers(deps: HandlerDeps): Pick<vmv1.VmServiceServer, ForwardRpcs> {
  const { useCases: uc } = deps;
  return {
    openTunnel: bidiStream<vmv1.OpenTunnelRequest, vmv1.OpenTunnelResponse>(async (requests, ctx, send) => {
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      const open = first.done ? undefined : first.value.msg;
      if (open?.$case !== 'open') throw new InvalidArgumentError('open', 'the first message must open the tunnel (ref and port)', 'TUNNEL_NOT_OPENED');
      const { vm, socket, guestAddress } = await uc.openTunnel.run({ ref: open.value.ref, port: open.value.port, opId: ctx.opId, waitForListenerMs: open.value.waitForListenerMs, signal: ctx.signal });
      ctx.logger.info({ vm: vm.name, guest: guestAddress }, 'tunnel open');
      await send({ msg: { $case: 'opened', value: { vmId: vm.id, guestAddress } } });
      await relay(socket, it, send, ctx.signal);
    }),
    forwardPort: unary<vmv1.ForwardPortRequest, vmv1.ForwardPortResponse>(async (req) => {
      const { forward } = await uc.forwardPort.run({ ref: req.ref, guestPort: req.guestPort, hostPort: req.hostPort, hostAddress: req.hostAddress });
      return { forward: forwardToProto(forward) };
    }),
    unforwardPort: unary<vmv1.UnforwardPortRequest, vmv1.UnforwardPortResponse>(async (req) => uc.unforwardPort.run({ ref: req.ref, hostPort: req.hostPort })),
    setAutoForward: unary<vmv1.SetAutoForwardRequest, vmv1.SetAutoForwardResponse>(async (req) => uc.setAutoForward.run({ ref: req.ref, enabled: req.enabled })),
  };
}

/**
 * Pipes the guest socket and the call into each other until the guest closes: the client's
 * data messages go to the guest (its half-close ends the guest's write side), the guest's bytes
 * come back as data messages, paused while the call's transport is full.
 */
export async function relay(socket: Socket, requests: AsyncIterator<vmv1.OpenTunnelRequest>, send: Send<vmv1.OpenTunnelResponse>, signal: AbortSignal): Promise<void> {
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const onAbort = (): void => void socket.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    socket.pause();
    send({ msg: { $case: 'data', value: chunk } }).then(
      () => socket.resume(),
      () => socket.destroy(),
    );
  });
  const upstream = (async () => {
    for (;;) {
      const next = await requests.next();
      if (next.done || socket.destroyed) break;
      if (next.value.msg?.$case !== 'data') continue;
      if (!socket.write(next.value.msg.value)) await Promise.race([once(socket, 'drain'), closed]);
    }
    socket.end();
  })().catch(() => socket.destroy());
  await closed;
  signal.removeEventListener('abort', onAbort);
  // The guest closed: the call ends now, whether or not the client has half-closed its side
  // (a client still holding stdin open must not keep the tunnel, and this handler, alive).
  void upstream;
}
