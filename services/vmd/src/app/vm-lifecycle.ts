import { readFile } from 'node:fs/promises';
import { FailedPreconditionError, InvalidArgumentError, StageRunner, failureEvent, type OpEventSink } from '@banger/runtime';
import type { JsonObject, VmRecord } from '@banger/store';
import type { Logger } from 'pino';
import type { Subnet } from '../domain/addressing.js';
import type { GuestAgent, GuestExecResult } from '../ports/agent.js';
import type { HostHelper } from '../ports/host.js';
import type { ImageCatalog, ImageService } from '../ports/images.js';
import { awaitAgent, awaitServices, consoleTail, type BootTimeouts } from './guest-boot.js';
import { kernelOfSpec, launchInputFor } from './launch-input.js';
import type { VmLocks } from './vm-locks.js';
import { serializeVm, type OperationContext } from './vm-create.js';
import type { VmWriter } from './vm-writer.js';

export interface VmLookup {
  findByRef(ref: string): Promise<VmRecord>;
  getById(id: string): Promise<VmRecord>;
  list(): Promise<VmRecord[]>;
}

export interface VmLifecycleDeps {
  vms: VmWriter & VmLookup;
  host: HostHelper;
  agent: GuestAgent;
  locks: VmLocks;
  subnet: Subnet;
  bridge: string;
  sshPublicKey: string;
  timeouts: BootTimeouts;
  logger: () => Logger;
}

function runtimeOf(vm: VmRecord): { agentSocket: string; consoleLog: string; rootDisk: string; workDisk: string } {
  const r = vm.runtime;
  const s = (k: string): string => (typeof r[k] === 'string' ? (r[k] as string) : '');
  return { agentSocket: s('agentSocket'), consoleLog: s('consoleLog'), rootDisk: s('rootDisk'), workDisk: s('workDisk') };
}

function servicesOf(vm: VmRecord): ImageService[] {
  const raw = vm.spec['services'];
  return Array.isArray(raw) ? (raw as unknown as ImageService[]) : [];
}

function specString(vm: VmRecord, key: string): string {
  const v = vm.spec[key];
  return typeof v === 'string' ? v : '';
}

/** A string list from the VM's spec; VMs created before the key existed have none. */
function specStrings(vm: VmRecord, key: string): string[] {
  const v = vm.spec[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function requireRunning(vm: VmRecord, what: string): void {
  if (vm.state !== 'running') {
    throw new FailedPreconditionError('VM_NOT_RUNNING', `vm ${vm.name} is ${vm.state}; start it before ${what}`, { fields: { vm: vm.name, state: vm.state } });
  }
}

/** Everything a user does with an existing VM: start, stop, kill, delete, exec, console. */
export class VmLifecycle {
  constructor(private readonly deps: VmLifecycleDeps) {}

  async stop(ref: string, timeoutMs: number): Promise<VmRecord> {
    const vm = await this.deps.vms.findByRef(ref);
    return this.deps.locks.with(vm.id, 'stop', async () => {
      if (vm.state === 'stopped') return vm;
      await this.deps.vms.update(vm.id, { state: 'stopping' });
      const res = await this.deps.host.stop(vm.id, timeoutMs);
      this.deps.logger().info({ vm_id: vm.id, forced: res.forced, was_running: res.wasRunning }, 'vm stopped');
      return this.deps.vms.update(vm.id, { state: 'stopped', pid: null, stoppedAt: new Date() });
    });
  }

  async kill(ref: string): Promise<VmRecord> {
    const vm = await this.deps.vms.findByRef(ref);
    return this.deps.locks.with(vm.id, 'kill', async () => {
      await this.deps.host.kill(vm.id);
      return this.deps.vms.update(vm.id, { state: 'stopped', pid: null, stoppedAt: new Date() });
    });
  }

  /** Stops the VM if needed and removes every host resource it had, then its row. */
  async delete(ref: string, opts: { stopTimeoutMs: number }): Promise<VmRecord> {
    const vm = await this.deps.vms.findByRef(ref);
    return this.deps.locks.with(vm.id, 'delete', async () => {
      await this.deps.vms.update(vm.id, { state: 'deleting' });
      await this.deps.host.stop(vm.id, opts.stopTimeoutMs);
      await this.deps.host.releaseTap(vm.id);
      await this.deps.host.removeRootOverlay(vm.id);
      await this.deps.host.removeWorkDisk(vm.id);
      await this.deps.vms.delete(vm.id);
      await this.deps.host.syncDns(await this.deps.vms.dnsRecords());
      return vm;
    });
  }

  /** Boots a stopped VM with the stages of a create from network on. */
  async start(ref: string, noWait: boolean, op: OperationContext): Promise<JsonObject> {
    const vm0 = await this.deps.vms.findByRef(ref);
    return this.deps.locks.with(vm0.id, 'start', async () => {
      const { deps } = this;
      const stages = new StageRunner(op.emit);
      let consoleLog = '';
      try {
        if (vm0.state === 'running') throw new FailedPreconditionError('VM_ALREADY_RUNNING', `vm ${vm0.name} is already running`);
        await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_start', target: vm0.name, targetId: vm0.id });
        await deps.vms.update(vm0.id, { state: 'starting' });
        const vm = await stages.run('network', `tap on ${deps.bridge}`, async () => {
          await deps.host.ensureNetwork({ bridge: deps.bridge, cidr: deps.subnet.cidr, gateway: deps.subnet.gateway, prefix: deps.subnet.prefix });
          const tap = await deps.host.acquireTap(vm0.id);
          const updated = await deps.vms.update(vm0.id, { tap });
          await deps.host.syncDns(await deps.vms.dnsRecords());
          return updated;
        });
        const proc = await stages.run('boot', `${vm.vcpus} vCPU, ${vm.memoryMib} MiB`, async () => {
          const p = await deps.host.launch(
            launchInputFor(
              vm,
              {
                kernel: kernelOfSpec(vm.spec),
                initPath: specString(vm, 'initPath'),
                kernelArgs: specStrings(vm, 'kernelArgs'),
              },
              deps.subnet,
              deps.sshPublicKey,
            ),
          );
          consoleLog = p.consoleLog;
          await deps.vms.update(vm.id, { pid: p.pid, runtime: { ...vm.runtime, agentSocket: p.agentSocket, consoleLog: p.consoleLog } });
          return p;
        });
        await awaitAgent(stages, deps.agent, proc.agentSocket, deps.timeouts, op.signal);
        if (noWait) await stages.skip('services', 'skipped (--no-wait)');
        else await awaitServices(stages, deps.agent, proc.agentSocket, servicesOf(vm), deps.timeouts, op.signal);
        const ready = await deps.vms.update(vm.id, { state: 'running', startedAt: new Date(), stoppedAt: null });
        await op.emit({ type: 'result', result: { vm: serializeVm(ready) } });
        return { targetId: vm.id, vmId: vm.id };
      } catch (err) {
        await deps.host.kill(vm0.id).catch(() => undefined);
        await deps.vms.update(vm0.id, { state: 'stopped', pid: null }).catch(() => undefined);
        const tail = consoleLog ? await consoleTail(consoleLog) : undefined;
        await op.emit(failureEvent(err, op.opId, tail ? { consoleTail: tail } : {}));
        throw err;
      }
    });
  }

  async exec(ref: string, argv: string[], opts: { timeoutMs: number; env?: Record<string, string>; input?: Buffer }): Promise<GuestExecResult> {
    if (argv.length === 0 || !argv[0]) throw new InvalidArgumentError('command', 'is required: give the program and its arguments');
    const vm = await this.deps.vms.findByRef(ref);
    requireRunning(vm, 'running commands in it');
    return this.deps.agent.exec(runtimeOf(vm).agentSocket, argv, opts);
  }

  async execStream(
    ref: string,
    argv: string[],
    onChunk: (chunk: { stream: 'stdout' | 'stderr'; data: Buffer }) => Promise<void>,
    opts: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<{ exitCode: number }> {
    if (argv.length === 0 || !argv[0]) throw new InvalidArgumentError('command', 'is required: give the program and its arguments');
    const vm = await this.deps.vms.findByRef(ref);
    requireRunning(vm, 'running commands in it');
    return this.deps.agent.execStream(runtimeOf(vm).agentSocket, argv, onChunk, opts);
  }

  /** TCP and UDP sockets listening in the guest, with owning processes, via the agent. */
  async ports(ref: string): Promise<{ vm: VmRecord; ports: GuestPort[] }> {
    const vm = await this.deps.vms.findByRef(ref);
    requireRunning(vm, 'listing its ports');
    const res = await this.deps.agent.exec(runtimeOf(vm).agentSocket, ['ss', '-Hlntup'], { timeoutMs: 15_000 });
    if (res.exitCode !== 0) throw new FailedPreconditionError('GUEST_COMMAND_FAILED', `ss failed in the guest: ${res.stderr.toString().trim()}`);
    return { vm, ports: parseSs(res.stdout.toString()) };
  }

  async consoleLog(ref: string): Promise<{ vm: VmRecord; path: string }> {
    const vm = await this.deps.vms.findByRef(ref);
    const path = runtimeOf(vm).consoleLog;
    if (!path) throw new FailedPreconditionError('NO_CONSOLE', `vm ${vm.name} has not booted yet`);
    return { vm, path };
  }

  async readConsole(path: string): Promise<string> {
    return readFile(path, 'utf8').catch(() => '');
  }

  /** Puts a VM back to rest when launch failed mid-way (used by reconciliation). */
  async emitFailure(op: { opId: string; emit: OpEventSink }, err: unknown): Promise<void> {
    await op.emit(failureEvent(err, op.opId));
  }
}

export interface GuestPort {
  protocol: 'tcp' | 'udp';
  address: string;
  port: number;
  process: string;
  pid: number;
}

/** Parses `ss -Hlntup` lines: Netid State Recv-Q Send-Q Local:Port Peer:Port [users:(("name",pid=N,fd=M))]. */
export function parseSs(out: string): GuestPort[] {
  const ports: GuestPort[] = [];
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const proto = cols[0];
    if (proto !== 'tcp' && proto !== 'udp') continue;
    const local = cols[4] ?? '';
    const idx = local.lastIndexOf(':');
    if (idx < 0) continue;
    const port = Number(local.slice(idx + 1));
    if (!Number.isInteger(port)) continue;
    const address = local.slice(0, idx).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    const users = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    ports.push({ protocol: proto, address, port, process: users?.[1] ?? '', pid: users ? Number(users[2]) : 0 });
  }
  return ports;
}

/** Grow-only resize of a stopped VM's work disk (the filesystem grows with it, offline). */
export async function resizeWorkDisk(deps: Pick<VmLifecycleDeps, 'vms' | 'host' | 'locks'>, ref: string, sizeBytes: number): Promise<VmRecord> {
  const vm = await deps.vms.findByRef(ref);
  return deps.locks.with(vm.id, 'resize', async () => {
    if (vm.state !== 'stopped') {
      throw new FailedPreconditionError('VM_NOT_STOPPED', `vm ${vm.name} is ${vm.state}; stop it before resizing its work disk`, { fields: { vm: vm.name, state: vm.state } });
    }
    const current = typeof vm.spec['workDiskBytes'] === 'number' ? vm.spec['workDiskBytes'] : vm.workDiskGib * 1024 ** 3;
    if (sizeBytes <= current) {
      throw new InvalidArgumentError('size_bytes', `must be larger than the current ${current} bytes: work disks only grow`, 'SHRINK_REFUSED');
    }
    const size = await deps.host.resizeWorkDisk(vm.id, sizeBytes);
    return deps.vms.update(vm.id, { workDiskGib: Math.ceil(size / 1024 ** 3), spec: { ...vm.spec, workDiskBytes: size } });
  });
}

/** Promotes a stopped VM's root disk into a new managed image (under the VM's lock). */
export async function promoteVm(
  deps: Pick<VmLifecycleDeps, 'vms' | 'locks'> & { images: ImageCatalog },
  ref: string,
  imageName: string,
): Promise<{ id: string; name: string; fingerprint: string }> {
  if (!imageName) throw new InvalidArgumentError('image_name', 'is required');
  const vm = await deps.vms.findByRef(ref);
  return deps.locks.with(vm.id, 'promote', async () => {
    if (vm.state !== 'stopped') {
      throw new FailedPreconditionError('VM_NOT_STOPPED', `vm ${vm.name} is ${vm.state}; stop it before promoting its disk`, { fields: { vm: vm.name, state: vm.state } });
    }
    return deps.images.promote({ vmId: vm.id, name: imageName, baseImage: vm.imageId });
  });
}

/** Deletes stopped VMs that have not been used (or started) for longer than `olderThanMs`. */
export async function pruneVms(lifecycle: VmLifecycle, vms: VmLookup, olderThanMs: number, dryRun: boolean): Promise<VmRecord[]> {
  const cutoff = Date.now() - olderThanMs;
  const stale = (await vms.list()).filter((vm) => {
    if (vm.state !== 'stopped') return false;
    const last = vm.lastUsedAt ?? vm.stoppedAt ?? vm.createdAt;
    return last.getTime() < cutoff;
  });
  if (dryRun) return stale;
  const deleted: VmRecord[] = [];
  for (const vm of stale) deleted.push(await lifecycle.delete(vm.id, { stopTimeoutMs: 1 }));
  return deleted;
}
