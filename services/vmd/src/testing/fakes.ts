import { AlreadyExistsError, NotFoundError, UnavailableError, type OpEventBody } from '@banger/runtime';
import { StoreError, type ListVmsFilter, type NewVm, type VmPatch, type VmRecord } from '@banger/store';
import type { GuestAgent, GuestExecResult } from '../ports/agent.js';
import type { GuestNetwork, HostHelper, HostReadiness, LaunchInput, VmProcess } from '../ports/host.js';
import type { ImageCatalog, ResolvedImage } from '../ports/images.js';

type HostVerb = Exclude<keyof HostHelper, never>;

/**
 * privhelper as a small in-memory host: what exists (taps, disks, processes, DNS records) is
 * kept, so a test can say "nothing is left behind" by looking at it. Any verb can be made to
 * fail once or every time.
 */
export class FakeHost implements HostHelper {
  readonly calls: string[] = [];
  readonly launches: LaunchInput[] = [];
  readonly stops: { vmId: string; timeoutMs: number }[] = [];
  networkReady = false;
  readonly taps = new Map<string, string>();
  readonly overlays = new Set<string>();
  readonly workDisks = new Map<string, number>();
  readonly processes = new Map<string, VmProcess>();
  dns: { name: string; ipv4: string }[] = [];
  blockers: HostReadiness['blockers'] = [];
  /** What stop() reports: true as if the guest ignored ctrl-alt-del and was killed. */
  stopForces = false;
  private nextPid = 1000;
  private nextTap = 0;
  private readonly faults = new Map<string, { err: Error; times: number }>();

  /** The next `times` calls of `verb` fail with `err` (default: every call). */
  failOn(verb: HostVerb, err: Error = new UnavailableError('HOST_FAULT', `${verb} failed (injected)`), times = Number.POSITIVE_INFINITY): void {
    this.faults.set(verb, { err, times });
  }

  heal(verb: HostVerb): void {
    this.faults.delete(verb);
  }

  private enter(verb: HostVerb, detail = ''): void {
    this.calls.push(detail ? `${verb} ${detail}` : verb);
    const f = this.faults.get(verb);
    if (!f) return;
    f.times -= 1;
    if (f.times <= 0) this.faults.delete(verb);
    throw f.err;
  }

  /** Everything the host holds for any VM; empty when nothing was left behind. */
  leftovers(): string[] {
    return [
      ...[...this.taps.keys()].map((id) => `tap:${id}`),
      ...[...this.overlays].map((p) => `overlay:${p}`),
      ...[...this.workDisks.keys()].map((p) => `work_disk:${p}`),
      ...[...this.processes.keys()].map((id) => `process:${id}`),
    ];
  }

  async readiness(): Promise<HostReadiness> {
    this.enter('readiness');
    return { accel: 'tcg', blockers: this.blockers };
  }

  async ensureNetwork(_net: GuestNetwork): Promise<void> {
    this.enter('ensureNetwork');
    this.networkReady = true;
  }

  async acquireTap(vmId: string): Promise<string> {
    this.enter('acquireTap', vmId);
    let tap = this.taps.get(vmId);
    if (!tap) {
      tap = `bt${this.nextTap++}`;
      this.taps.set(vmId, tap);
    }
    return tap;
  }

  async releaseTap(vmId: string): Promise<void> {
    this.enter('releaseTap', vmId);
    this.taps.delete(vmId);
  }

  async syncDns(records: { name: string; ipv4: string }[]): Promise<void> {
    this.enter('syncDns');
    this.dns = [...records];
  }

  async createRootOverlay(vmId: string, _basePath: string): Promise<string> {
    this.enter('createRootOverlay', vmId);
    const path = `/state/vms/${vmId}/root.qcow2`;
    this.overlays.add(path);
    return path;
  }

  async removeRootOverlay(path: string): Promise<void> {
    this.enter('removeRootOverlay', path);
    this.overlays.delete(path);
  }

  async createWorkDisk(vmId: string, _seedPath: string, sizeBytes: number): Promise<string> {
    this.enter('createWorkDisk', vmId);
    const path = `/state/vms/${vmId}/work.ext4`;
    this.workDisks.set(path, sizeBytes);
    return path;
  }

  async resizeWorkDisk(path: string, sizeBytes: number): Promise<number> {
    this.enter('resizeWorkDisk', path);
    this.workDisks.set(path, sizeBytes);
    return sizeBytes;
  }

  async removeWorkDisk(path: string): Promise<void> {
    this.enter('removeWorkDisk', path);
    this.workDisks.delete(path);
  }

  async launch(input: LaunchInput): Promise<VmProcess> {
    this.enter('launch', input.vmId);
    this.launches.push(input);
    const proc = { pid: this.nextPid++, agentSocket: `/run/vms/${input.vmId}/agent.sock`, consoleLog: `/run/vms/${input.vmId}/console.log` };
    this.processes.set(input.vmId, proc);
    return proc;
  }

  async stop(vmId: string, timeoutMs: number): Promise<{ wasRunning: boolean; forced: boolean }> {
    this.enter('stop', vmId);
    this.stops.push({ vmId, timeoutMs });
    const wasRunning = this.processes.delete(vmId);
    return { wasRunning, forced: wasRunning && this.stopForces };
  }

  async kill(vmId: string): Promise<{ wasRunning: boolean }> {
    this.enter('kill', vmId);
    return { wasRunning: this.processes.delete(vmId) };
  }

  async find(vmId: string): Promise<VmProcess | undefined> {
    this.enter('find', vmId);
    return this.processes.get(vmId);
  }

  async list(): Promise<(VmProcess & { vmId: string })[]> {
    this.enter('list');
    return [...this.processes].map(([vmId, p]) => ({ vmId, ...p }));
  }
}

/** A guest agent whose guest is always healthy unless told otherwise. */
export class FakeAgent implements GuestAgent {
  /** Rejects waitReady with this error (e.g. the agent never answers). */
  notReady: Error | undefined;
  /** Makes waitReady wait until released (to hold an operation in its agent stage). */
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  readonly listening = new Set<number>([4096]);
  readonly files = new Map<string, string>([['/etc/banger/secrets/opencode', 's3cret\n']]);
  readonly execs: string[][] = [];
  execResult: GuestExecResult = { exitCode: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), truncated: false };

  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  async waitReady(_socket: string, _timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.gate) {
      const gate = this.gate;
      await new Promise<void>((resolve, reject) => {
        void gate.then(resolve);
        signal?.addEventListener('abort', () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')), { once: true });
      });
    }
    if (this.notReady) throw this.notReady;
  }

  async exec(_socket: string, argv: string[]): Promise<GuestExecResult> {
    this.execs.push(argv);
    if (argv[0] === 'ss' && argv[1] === '-Htln') {
      const port = Number(/:(\d+)$/.exec(argv[2] ?? '')?.[1]);
      const up = this.listening.has(port);
      return { exitCode: 0, stdout: Buffer.from(up ? `LISTEN 0 128 *:${port} *:*\n` : ''), stderr: Buffer.alloc(0), truncated: false };
    }
    return this.execResult;
  }

  async readFile(_socket: string, path: string): Promise<Buffer | undefined> {
    const f = this.files.get(path);
    return f === undefined ? undefined : Buffer.from(f);
  }

  async execStream(): Promise<{ exitCode: number }> {
    return { exitCode: this.execResult.exitCode };
  }
}

export const DEBIAN: ResolvedImage = {
  id: 'img-debian',
  name: 'debian-bookworm',
  fingerprint: 'f'.repeat(64),
  rootfsPath: '/state/images/debian/rootfs.ext4',
  kernelPath: '/state/kernels/cloud/vmlinux',
  initrdPath: '/state/kernels/cloud/initrd.img',
  workSeedPath: '/state/images/debian/work-seed.ext4',
  workSeedFingerprint: 'seed-fp',
  initPath: '/sbin/init',
  kernelArgs: ['quiet', 'net.ifnames=0'],
  services: [{ name: 'opencode', port: 4096, readiness: 'tcp', timeoutSeconds: 180, secretEnv: 'OPENCODE_SERVER_PASSWORD' }],
};

/** imaged with one image, the default. */
export class FakeImages implements ImageCatalog {
  readonly resolved: string[] = [];
  readonly promoted: { vmId: string; rootDiskPath: string; name: string; baseImage: string }[] = [];
  image: ResolvedImage = DEBIAN;

  async resolve(ref: string): Promise<ResolvedImage> {
    this.resolved.push(ref);
    if (ref !== '' && ref !== this.image.name && ref !== this.image.id) throw new NotFoundError('image', ref, 'IMAGE_NOT_FOUND');
    return this.image;
  }

  async promote(input: { vmId: string; rootDiskPath: string; name: string; baseImage: string }): Promise<{ id: string; name: string; fingerprint: string }> {
    this.promoted.push(input);
    return { id: 'img-promoted', name: input.name, fingerprint: 'p'.repeat(64) };
  }
}

/** vmd's VM rows in memory, failing like the store does (its NOT_FOUND, its unique columns). */
export class MemoryVmRows {
  readonly rows = new Map<string, VmRecord>();
  private readonly faults = new Map<string, Error>();

  failOn(verb: 'insert' | 'update' | 'delete', err: Error = new UnavailableError('DATABASE_UNAVAILABLE', `database unavailable (${verb}, injected)`)): void {
    this.faults.set(verb, err);
  }

  private check(verb: string): void {
    const f = this.faults.get(verb);
    if (f) throw f;
  }

  private notFound(ref: string): Error {
    return new StoreError('NOT_FOUND', 'VM_NOT_FOUND', `vm ${ref} not found`, { ref });
  }

  async findByName(name: string): Promise<VmRecord | undefined> {
    return [...this.rows.values()].find((v) => v.name === name);
  }

  async usedIpv4(): Promise<string[]> {
    return [...this.rows.values()].flatMap((v) => (v.ipv4 ? [v.ipv4] : []));
  }

  async insert(vm: NewVm): Promise<VmRecord> {
    this.check('insert');
    // The table's unique columns, as the store reports a clash.
    for (const [field, value] of [['name', vm.name], ['ipv4', vm.ipv4], ['mac', vm.mac], ['tap', vm.tap]] as const) {
      if (value && [...this.rows.values()].some((r) => r[field] === value)) {
        throw new AlreadyExistsError('vm', value, `VM_${field.toUpperCase()}_TAKEN`, { fields: { field, value } });
      }
    }
    const now = new Date();
    const row: VmRecord = {
      id: vm.id,
      name: vm.name,
      state: vm.state,
      imageId: vm.imageId,
      kernelId: vm.kernelId ?? null,
      vcpus: vm.vcpus,
      memoryMib: vm.memoryMib,
      workDiskGib: vm.workDiskGib,
      spec: structuredClone(vm.spec ?? {}),
      runtime: structuredClone(vm.runtime ?? {}),
      ipv4: vm.ipv4 ?? null,
      mac: vm.mac ?? null,
      tap: vm.tap ?? null,
      pid: null,
      createOpId: vm.createOpId ?? null,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      stoppedAt: null,
      lastUsedAt: null,
    };
    this.rows.set(row.id, row);
    return structuredClone(row);
  }

  async update(id: string, patch: VmPatch): Promise<VmRecord> {
    this.check('update');
    const row = this.rows.get(id);
    if (!row) throw this.notFound(id);
    const next: VmRecord = { ...row, updatedAt: new Date() };
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = structuredClone(v);
    this.rows.set(id, next);
    return structuredClone(next);
  }

  async delete(id: string): Promise<void> {
    this.check('delete');
    if (!this.rows.delete(id)) throw this.notFound(id);
  }

  async dnsRecords(): Promise<{ name: string; ipv4: string }[]> {
    return [...this.rows.values()].flatMap((v) => (v.ipv4 ? [{ name: v.name, ipv4: v.ipv4 }] : []));
  }

  async findByRef(ref: string): Promise<VmRecord> {
    const all = [...this.rows.values()];
    const hit = all.find((v) => v.id === ref || v.name === ref) ?? (all.filter((v) => v.id.startsWith(ref)).length === 1 ? all.find((v) => v.id.startsWith(ref)) : undefined);
    if (!hit) throw this.notFound(ref);
    return structuredClone(hit);
  }

  async getById(id: string): Promise<VmRecord> {
    const row = this.rows.get(id);
    if (!row) throw this.notFound(id);
    return structuredClone(row);
  }

  async list(filter: ListVmsFilter = {}): Promise<VmRecord[]> {
    const states = filter.state === undefined ? undefined : typeof filter.state === 'string' ? [filter.state] : filter.state;
    return [...this.rows.values()].filter((v) => !states || states.includes(v.state)).map((v) => structuredClone(v));
  }

  async touch(id: string): Promise<void> {
    await this.update(id, { lastUsedAt: new Date() });
  }
}

/** An operation handle that keeps what it is given: events in order, resources still held. */
export class RecordingOperation {
  readonly opId: string;
  readonly events: OpEventBody[] = [];
  readonly resources = new Map<string, { kind: string; ref: string }>();
  readonly controller = new AbortController();
  readonly signal = this.controller.signal;

  constructor(opId = 'op-test00000000') {
    this.opId = opId;
  }

  readonly emit = async (e: OpEventBody): Promise<void> => {
    this.events.push(e);
  };

  async recordResource(kind: string, ref: string): Promise<void> {
    this.resources.set(`${kind}:${ref}`, { kind, ref });
  }

  async releaseResource(kind: string, ref: string): Promise<void> {
    this.resources.delete(`${kind}:${ref}`);
  }

  stagesFinished(): string[] {
    return this.events.flatMap((e) => (e.type === 'stage_finished' && e.ok ? [e.stage] : []));
  }

  failure(): Extract<OpEventBody, { type: 'failure' }> | undefined {
    return this.events.find((e): e is Extract<OpEventBody, { type: 'failure' }> => e.type === 'failure');
  }
}
