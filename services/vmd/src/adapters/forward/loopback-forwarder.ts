import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { mintOpId } from '@banger/runtime/opid';
import type { Logger } from 'pino';
import { FORWARD_HOST } from '../../domain/forward.js';
import type { Vm } from '../../domain/vm.js';
import type { ForwardState, PortForwards } from '../../ports/forwards.js';
import type { GuestConnector } from '../../ports/guest-connect.js';

interface Listener {
  guestPort: number;
  auto: boolean;
  server: Server | undefined;
  connections: number;
  problem: string;
  open: Set<Socket>;
}

/**
 * PortForwards as loopback TCP listeners in vmd. Each accepted connection gets its own guest
 * connection through the GuestConnector (privhelper's ConnectGuest), and bytes are piped both
 * ways with back-pressure; vmd parses nothing. A manual forward wins over an automatic one on
 * the same host port; a port another program holds is reported, not fought over.
 */
export class LoopbackForwarder implements PortForwards {
  private readonly vms = new Map<string, Map<number, Listener>>();
  private readonly lastDiscovered = new Map<string, readonly number[]>();
  /** Syncs of one VM run one after another: two racing listens on one port would collide. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** The newest row seen per VM: a caller holding an older read (the upkeep pass) must not undo a newer forward. */
  private readonly newest = new Map<string, Vm>();

  constructor(
    private readonly connector: GuestConnector,
    private readonly log: Logger,
  ) {}

  sync(vm: Vm, discovered?: readonly number[]): Promise<ForwardState[]> {
    const next = (this.chains.get(vm.id) ?? Promise.resolve()).then(() => this.syncNow(vm, discovered));
    const settled = next.catch(() => undefined);
    this.chains.set(vm.id, settled);
    void settled.then(() => {
      if (this.chains.get(vm.id) === settled) this.chains.delete(vm.id);
    });
    return next;
  }

  private async syncNow(given: Vm, discovered?: readonly number[]): Promise<ForwardState[]> {
    const seen = this.newest.get(given.id);
    const vm = seen && seen.updatedAt > given.updatedAt ? seen : given;
    this.newest.set(vm.id, vm);
    if (discovered !== undefined) this.lastDiscovered.set(vm.id, discovered);
    const want = new Map<number, { guestPort: number; auto: boolean }>();
    if (vm.state === 'running') {
      if (vm.spec.forwards.auto) for (const p of this.lastDiscovered.get(vm.id) ?? []) want.set(p, { guestPort: p, auto: true });
      for (const f of vm.spec.forwards.ports) want.set(f.hostPort, { guestPort: f.guestPort, auto: false });
    } else {
      this.lastDiscovered.delete(vm.id);
    }
    const have = this.vms.get(vm.id) ?? new Map<number, Listener>();
    this.vms.set(vm.id, have);
    for (const [hostPort, l] of have) {
      const w = want.get(hostPort);
      if (w === undefined || w.guestPort !== l.guestPort) {
        await this.closeListener(l);
        have.delete(hostPort);
      } else {
        l.auto = w.auto;
      }
    }
    for (const [hostPort, w] of want) {
      const existing = have.get(hostPort);
      if (existing && existing.server) continue;
      if (existing && existing.auto) {
        // An automatic forward that could not listen is retried on every sync.
        have.delete(hostPort);
      }
      have.set(hostPort, await this.listen(vm, hostPort, w.guestPort, w.auto));
    }
    if (have.size === 0) this.vms.delete(vm.id);
    if (vm.state !== 'running') this.newest.delete(vm.id);
    return this.list(vm.id);
  }

  list(vmId: string): ForwardState[] {
    return [...(this.vms.get(vmId) ?? new Map<number, Listener>())]
      .map(([hostPort, l]) => ({ guestPort: l.guestPort, hostAddress: FORWARD_HOST, hostPort, auto: l.auto, connections: l.connections, problem: l.problem }))
      .sort((a, b) => a.hostPort - b.hostPort);
  }

  async retain(vmIds: ReadonlySet<string>): Promise<void> {
    for (const [id, have] of [...this.vms]) {
      if (vmIds.has(id)) continue;
      for (const l of have.values()) await this.closeListener(l);
      this.vms.delete(id);
      this.lastDiscovered.delete(id);
      this.newest.delete(id);
    }
  }

  async close(): Promise<void> {
    for (const have of this.vms.values()) for (const l of have.values()) await this.closeListener(l);
    this.vms.clear();
  }

  private async listen(vm: Vm, hostPort: number, guestPort: number, auto: boolean): Promise<Listener> {
    const l: Listener = { guestPort, auto, server: undefined, connections: 0, problem: '', open: new Set() };
    const server = createServer((client) => void this.relay(vm, l, client));
    try {
      server.listen(hostPort, FORWARD_HOST);
      await once(server, 'listening');
      l.server = server;
      this.log.info({ vm: vm.name, vm_id: vm.id, host: `${FORWARD_HOST}:${hostPort}`, guest_port: guestPort, auto }, 'port forward listening');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      l.problem = code === 'EADDRINUSE' ? `host port ${hostPort} is in use by another program` : `cannot listen on ${FORWARD_HOST}:${hostPort}: ${(err as Error).message}`;
      this.log.warn({ vm: vm.name, host_port: hostPort, guest_port: guestPort, auto, err }, 'port forward not listening');
    }
    return l;
  }

  private async relay(vm: Vm, l: Listener, client: Socket): Promise<void> {
    l.connections++;
    l.open.add(client);
    client.pause();
    client.on('error', () => undefined);
    client.once('close', () => l.open.delete(client));
    const opId = mintOpId();
    try {
      const guest = await this.connector.connect(vm.id, l.guestPort, { opId });
      guest.on('error', () => client.destroy());
      client.on('error', () => guest.destroy());
      client.once('close', () => guest.destroy());
      guest.once('close', () => client.destroy());
      client.pipe(guest);
      guest.pipe(client);
      client.resume();
    } catch (err) {
      this.log.warn({ op_id: opId, vm: vm.name, guest_port: l.guestPort, err }, 'forwarded connection could not reach the guest');
      client.destroy();
    }
  }

  private async closeListener(l: Listener): Promise<void> {
    for (const s of l.open) s.destroy();
    if (l.server) {
      const closed = once(l.server, 'close');
      l.server.close();
      await closed;
    }
  }
}
