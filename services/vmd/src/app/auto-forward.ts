import { log } from '@banger/runtime/logging';
import type { Vm } from '../domain/vm.js';
import { MIN_HOST_PORT } from '../domain/forward.js';
import type { PortForwards } from '../ports/forwards.js';
import type { VmRepository } from '../ports/vms.js';
import type { GetVmPorts } from './ports.js';

/** Guest addresses a listener reachable over the VM's network binds to (not the guest's loopback). */
const REACHABLE = new Set(['0.0.0.0', '*', '::', '[::]']);
/** Listing a guest's sockets costs it a process under emulation: at most this often per VM. */
const LIST_EVERY_MS = 10_000;

/**
 * One pass of forward upkeep, run every few seconds by the daemon: every running VM's forwards
 * listen and every other VM's are closed (so forwards stop with the VM and come back with vmd),
 * and for VMs with automatic forwarding the guest's TCP listeners on all addresses (listed at
 * most every 10 s) get the same port on host loopback (lima's model). Listeners below 1024 (ssh) are left to `vm ssh`.
 */
export class ForwardUpkeep {
  private readonly failing = new Set<string>();
  private readonly listedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: { vms: Pick<VmRepository, 'list' | 'getById'>; forwards: PortForwards; ports: Pick<GetVmPorts, 'run'> }) {}

  /** Passes every `intervalMs`, never overlapping. */
  start(intervalMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.current = this.tick().catch((err: unknown) => log().warn({ err }, 'forward upkeep pass failed'));
      void this.current.then(() => this.start(intervalMs));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the passes and closes every forward. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current;
    await this.deps.forwards.close();
  }

  async tick(): Promise<void> {
    const vms = await this.deps.vms.list();
    await this.deps.forwards.retain(new Set(vms.map((v) => v.id)));
    for (const vm of vms) await this.one(vm);
  }

  private async one(vm: Vm): Promise<void> {
    if (vm.state !== 'running' || !vm.spec.forwards.auto) {
      this.listedAt.delete(vm.id);
      await this.deps.forwards.sync(vm, vm.state === 'running' ? [] : undefined);
      return;
    }
    if (Date.now() - (this.listedAt.get(vm.id) ?? 0) < LIST_EVERY_MS) {
      await this.deps.forwards.sync(vm);
      return;
    }
    this.listedAt.set(vm.id, Date.now());
    let listening: number[] | undefined;
    try {
      const { ports } = await this.deps.ports.run({ ref: vm.id });
      listening = [...new Set(ports.filter((p) => p.protocol === 'tcp' && p.port >= MIN_HOST_PORT && (REACHABLE.has(p.address) || p.address === vm.network.ipv4)).map((p) => p.port))].sort((a, b) => a - b);
      this.failing.delete(vm.id);
    } catch (err) {
      // A guest whose agent is busy keeps the automatic forwards it had; logged once.
      if (!this.failing.has(vm.id)) log().warn({ vm: vm.name, err }, 'guest listeners could not be read for automatic forwarding');
      this.failing.add(vm.id);
    }
    // Reading the guest took a while: the VM (its state, its forwards) is read again, so a
    // forward added or a stop made meanwhile is not undone by this pass.
    const fresh = await this.deps.vms.getById(vm.id).catch(() => undefined);
    if (fresh) await this.deps.forwards.sync(fresh, fresh.state === 'running' ? listening : undefined);
  }
}
