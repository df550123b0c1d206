import type { FileCopyVm, GuestFiles, UploadSpec } from '../ports/guest-files.js';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError, UnavailableError, type OpEventBody } from '@banger/runtime';
import { statesAllowedInto } from '../domain/vm-state.js';
import { dnsRecordsOf, type DnsRecord, type NewVm, type Vm, type VmPatch, type VmState } from '../domain/vm.js';
import type { GuestAgent, GuestExecOptions, GuestExecResult } from '../ports/agent.js';
import type { DiskSource, GuestNetwork, HeldSnapshot, HostHelper, HostHoldings, HostReadiness, LaunchInput, ReleasedVm, SavedStateView, VmDisk, VmProcess } from '../ports/host.js';
import type { ImageCatalog, ResolvedImage } from '../ports/images.js';
import type { VmFilter, VmRepository } from '../ports/vms.js';
import type { EgressPolicy } from '../domain/egress.js';

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
  /** VM disk directories holding only what a crash left (partial files), keyed by VM id. */
  readonly strayDirs = new Set<string>();
  /** privhelper's snapshot root as ListHeld shows it, by snapshot id. */
  readonly heldSnapshots = new Map<string, HeldSnapshot>();
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
    this.fences.delete(vmId);
  }

  /** The fences privhelper would hold, by VM id; a fence needs the VM's tap first, as there. */
  readonly fences = new Map<string, { ipv4: string; mac: string; egress: EgressPolicy }>();
  /** The tap each fence pins; it stays when the tap is gone (ListHeld reports it). */
  readonly fenceTaps = new Map<string, string>();

  async fenceVm(input: { vmId: string; ipv4: string; mac: string; egress: EgressPolicy }): Promise<void> {
    this.enter('fenceVm', input.vmId);
    if (!this.taps.has(input.vmId)) throw new FailedPreconditionError('TAP_NOT_ASSIGNED', `vm ${input.vmId} has no tap`);
    this.fences.set(input.vmId, { ipv4: input.ipv4, mac: input.mac, egress: { ...input.egress } });
    this.fenceTaps.set(input.vmId, this.taps.get(input.vmId) ?? '');
  }

  async syncDns(records: DnsRecord[]): Promise<void> {
    this.enter('syncDns');
    this.dns = [...records];
  }

  async createRootOverlay(vmId: string, _image: DiskSource): Promise<string> {
    this.enter('createRootOverlay', vmId);
    const path = `/state/vms/${vmId}/root.qcow2`;
    this.overlays.add(path);
    return path;
  }

  async removeRootOverlay(disk: VmDisk): Promise<void> {
    this.enter('removeRootOverlay', disk.path);
    this.overlays.delete(disk.path);
  }

  async createWorkDisk(vmId: string, _image: DiskSource, sizeBytes: number): Promise<string> {
    this.enter('createWorkDisk', vmId);
    const path = `/state/vms/${vmId}/work.ext4`;
    this.workDisks.set(path, sizeBytes);
    return path;
  }

  async resizeWorkDisk(disk: VmDisk, sizeBytes: number): Promise<number> {
    this.enter('resizeWorkDisk', disk.path);
    this.workDisks.set(disk.path, sizeBytes);
    return sizeBytes;
  }

  async removeWorkDisk(disk: VmDisk): Promise<void> {
    this.enter('removeWorkDisk', disk.path);
    this.workDisks.delete(disk.path);
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

  readonly paused = new Set<string>();
  /** Saved states of suspended VMs, keyed by VM id. */
  readonly saved = new Map<string, SavedStateView>();

  async pause(vmId: string): Promise<boolean> {
    this.enter('pause', vmId);
    this.requireProcess(vmId);
    if (this.paused.has(vmId)) return false;
    this.paused.add(vmId);
    return true;
  }

  async resume(vmId: string): Promise<boolean> {
    this.enter('resume', vmId);
    this.requireProcess(vmId);
    return this.paused.delete(vmId);
  }

  async suspend(vmId: string): Promise<SavedStateView> {
    this.enter('suspend', vmId);
    this.requireProcess(vmId);
    const state = { sizeBytes: 4096, saveMs: 5, savedAt: new Date() };
    this.saved.set(vmId, state);
    this.processes.delete(vmId);
    this.paused.delete(vmId);
    return state;
  }

  async restore(input: LaunchInput): Promise<VmProcess & { state: SavedStateView }> {
    this.enter('restore', input.vmId);
    const state = this.saved.get(input.vmId);
    if (state === undefined) throw new FailedPreconditionError('NO_SAVED_STATE', `vm ${input.vmId} has no saved state`);
    const proc = { pid: this.nextPid++, agentSocket: `/run/vms/${input.vmId}/agent.sock`, consoleLog: `/run/vms/${input.vmId}/console.log` };
    this.processes.set(input.vmId, proc);
    this.saved.delete(input.vmId);
    return { ...proc, state };
  }

  async savedState(vmId: string): Promise<SavedStateView | undefined> {
    this.enter('savedState', vmId);
    return this.saved.get(vmId);
  }

  private requireProcess(vmId: string): void {
    if (!this.processes.has(vmId)) throw new FailedPreconditionError('VM_NOT_RUNNING', `vm ${vmId} is not running`);
  }

  async find(vmId: string): Promise<VmProcess | undefined> {
    this.enter('find', vmId);
    return this.processes.get(vmId);
  }

  async list(): Promise<(VmProcess & { vmId: string })[]> {
    this.enter('list');
    return [...this.processes].map(([vmId, p]) => ({ vmId, ...p }));
  }

  async listHeld(): Promise<HostHoldings> {
    this.enter('listHeld');
    const idOf = (path: string): string => path.split('/')[3] ?? '';
    const ids = new Set([...this.taps.keys(), ...this.fences.keys(), ...this.processes.keys(), ...this.strayDirs, ...[...this.overlays].map(idOf), ...[...this.workDisks.keys()].map(idOf)]);
    return {
      vms: [...ids].sort().map((vmId) => {
        const files = [...this.overlays, ...this.workDisks.keys()].filter((p) => idOf(p) === vmId).map((p) => p.split('/')[4] ?? '');
        const diskDir = files.length > 0 || this.strayDirs.has(vmId);
        return { vmId, diskDir, diskFiles: diskDir && files.length === 0 ? ['root.qcow2.partial'] : files, runDir: this.processes.has(vmId), tap: this.taps.get(vmId) ?? '', hypervisorPid: this.processes.get(vmId)?.pid ?? 0, fenceIpv4: this.fences.get(vmId)?.ipv4 ?? '', fenceMac: this.fences.get(vmId)?.mac ?? '', fenceTap: this.fences.has(vmId) ? (this.fenceTaps.get(vmId) ?? '') : '', savedStateBytes: 0 };
      }),
      dnsRecords: this.dns.map((r) => r.name),
      snapshots: [...this.heldSnapshots.values()],
    };
  }

  async releaseVm(vmId: string): Promise<ReleasedVm> {
    this.enter('releaseVm', vmId);
    const tap = this.taps.get(vmId) ?? '';
    const killedHypervisor = this.processes.delete(vmId);
    this.taps.delete(vmId);
    this.fences.delete(vmId);
    let removedDiskDir = this.strayDirs.delete(vmId);
    for (const p of [...this.overlays]) if (p.split('/')[3] === vmId) removedDiskDir = this.overlays.delete(p);
    for (const p of [...this.workDisks.keys()]) if (p.split('/')[3] === vmId) removedDiskDir = this.workDisks.delete(p);
    return { killedHypervisor, tap, removedDiskDir, removedRunDir: killedHypervisor };
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
  readonly execs: { argv: string[]; opts: GuestExecOptions }[] = [];
  /** Lines appended to root's authorized_keys through exec, as the guest would keep them. */
  readonly authorizedKeys: string[] = [];
  execResult: GuestExecResult = { exitCode: 0, signal: '', timedOut: false, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutTruncated: false, stderrTruncated: false };

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

  async exec(_socket: string, argv: string[], opts: GuestExecOptions = {}): Promise<GuestExecResult> {
    this.execs.push({ argv, opts });
    const ok = (stdout = ''): GuestExecResult => ({ exitCode: 0, signal: '', timedOut: false, stdout: Buffer.from(stdout), stderr: Buffer.alloc(0), stdoutTruncated: false, stderrTruncated: false });
    if (argv[0] === 'ss' && argv[1] === '-Htln') {
      const port = Number(/:(\d+)$/.exec(argv[2] ?? '')?.[1]);
      return ok(this.listening.has(port) ? `LISTEN 0 128 *:${port} *:*\n` : '');
    }
    if (argv[0] === '/bin/sh' && argv[2]?.includes('/root/.ssh/authorized_keys')) {
      for (const line of (opts.input?.toString() ?? '').split('\n')) if (line && !this.authorizedKeys.includes(line)) this.authorizedKeys.push(line);
      return ok();
    }
    return this.execResult;
  }

  async readFile(_socket: string, path: string): Promise<Buffer | undefined> {
    const f = this.files.get(path);
    return f === undefined ? undefined : Buffer.from(f);
  }

  async execStream(): Promise<Omit<GuestExecResult, 'stdout' | 'stderr'>> {
    const { stdout: _out, stderr: _err, ...rest } = this.execResult;
    return rest;
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
  kernel: { name: 'debian-bookworm-cloud', version: '6.1.0-40-cloud-amd64' },
  kernelArgs: ['quiet', 'net.ifnames=0'],
  services: [{ name: 'opencode', port: 4096, readiness: 'tcp', timeoutSeconds: 180, secretEnv: 'OPENCODE_SERVER_PASSWORD' }],
  storeImage: 'debian-bookworm-0123456789abcdef',
  storeKernel: { name: 'debian-bookworm-cloud', version: '6.1.158-1' },
};

/** imaged with one image, the default, and the kernels it has pulled. */
export class FakeImages implements ImageCatalog {
  readonly resolved: { ref: string; kernel: string }[] = [];
  readonly promoted: { vmId: string; name: string; baseImage: string }[] = [];
  image: ResolvedImage = DEBIAN;
  readonly kernels = new Map<string, { version: string; kernelPath: string; initrdPath: string }>([
    ['debian-bookworm-generic', { version: '6.1.0-40-amd64', kernelPath: '/state/kernels/generic/vmlinux', initrdPath: '/state/kernels/generic/initrd.img' }],
  ]);

  async resolve(ref: string, kernel = ''): Promise<ResolvedImage> {
    this.resolved.push({ ref, kernel });
    if (ref !== '' && ref !== this.image.name && ref !== this.image.id) throw new NotFoundError('image', ref, 'IMAGE_NOT_FOUND');
    if (!kernel || kernel === this.image.kernel.name) return this.image;
    const k = this.kernels.get(kernel);
    if (!k) throw new NotFoundError('kernel', kernel, 'KERNEL_NOT_FOUND', { fields: { field: 'kernel' } });
    return { ...this.image, kernel: { name: kernel, version: k.version }, kernelPath: k.kernelPath, initrdPath: k.initrdPath, storeKernel: { name: kernel, version: '6.1.158-1' } };
  }

  async promote(input: { vmId: string; name: string; baseImage: string }): Promise<{ id: string; name: string; fingerprint: string }> {
    this.promoted.push(input);
    return { id: 'img-promoted', name: input.name, fingerprint: 'p'.repeat(64) };
  }
}

/**
 * vmd's VMs in memory, behaving like PgVmRepo over the store: its NOT_FOUND, its unique
 * columns, and the state machine guarding every transition.
 */
export class MemoryVms implements VmRepository {
  readonly rows = new Map<string, Vm>();
  private readonly faults = new Map<string, Error>();

  failOn(verb: 'insert' | 'update' | 'transition' | 'delete', err: Error = new UnavailableError('DATABASE_UNAVAILABLE', `database unavailable (${verb}, injected)`)): void {
    this.faults.set(verb, err);
  }

  private check(verb: string): void {
    const f = this.faults.get(verb);
    if (f) throw f;
  }

  private row(id: string): Vm {
    const vm = this.rows.get(id);
    if (!vm) throw new NotFoundError('vm', id, 'VM_NOT_FOUND');
    return vm;
  }

  async findByRef(ref: string): Promise<Vm> {
    const all = [...this.rows.values()];
    const prefixed = all.filter((v) => v.id.startsWith(ref));
    const hit = all.find((v) => v.id === ref || v.name === ref) ?? (prefixed.length === 1 ? prefixed[0] : undefined);
    if (!hit) throw new NotFoundError('vm', ref, 'VM_NOT_FOUND');
    return structuredClone(hit);
  }

  async findByName(name: string): Promise<Vm | undefined> {
    const hit = [...this.rows.values()].find((v) => v.name === name);
    return hit && structuredClone(hit);
  }

  async getById(id: string): Promise<Vm> {
    return structuredClone(this.row(id));
  }

  async list(filter: VmFilter = {}): Promise<Vm[]> {
    return [...this.rows.values()]
      .filter((v) => !filter.states || filter.states.includes(v.state))
      .filter((v) => filter.image === undefined || v.spec.image.id === filter.image || v.spec.image.name === filter.image)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((v) => structuredClone(v));
  }

  async usedIpv4(): Promise<string[]> {
    return [...this.rows.values()].flatMap((v) => (v.network.ipv4 ? [v.network.ipv4] : []));
  }

  async insert(vm: NewVm): Promise<Vm> {
    this.check('insert');
    // The table's unique columns, as the store reports a clash.
    const unique = { name: vm.name, ipv4: vm.network.ipv4, mac: vm.network.mac, tap: vm.network.tap };
    for (const [field, value] of Object.entries(unique)) {
      const taken = [...this.rows.values()].some((r) => (field === 'name' ? r.name : r.network[field as 'ipv4']) === value);
      if (value && taken) throw new AlreadyExistsError('vm', value, `VM_${field.toUpperCase()}_TAKEN`, { fields: { field, value } });
    }
    const now = new Date();
    const row: Vm = { ...structuredClone(vm), pid: null, createdAt: now, updatedAt: now, startedAt: null, stoppedAt: null, lastUsedAt: null };
    this.rows.set(row.id, row);
    return structuredClone(row);
  }

  private apply(id: string, patch: VmPatch, state?: VmState): Vm {
    const row = this.row(id);
    const { network, ...rest } = structuredClone(patch);
    const next: Vm = { ...row, ...rest, network: { ...row.network, ...network }, ...(state ? { state } : {}), updatedAt: new Date() };
    this.rows.set(id, next);
    return structuredClone(next);
  }

  async update(id: string, patch: VmPatch): Promise<Vm> {
    this.check('update');
    return this.apply(id, patch);
  }

  async transition(id: string, to: VmState, patch: VmPatch = {}): Promise<Vm> {
    this.check('transition');
    const row = this.row(id);
    if (!statesAllowedInto(to).includes(row.state)) {
      throw new FailedPreconditionError('VM_STATE_CHANGED', `vm ${row.name} is ${row.state}, expected ${statesAllowedInto(to).join(' or ')}`, { fields: { vm_id: id, state: row.state } });
    }
    return this.apply(id, patch, to);
  }

  async delete(id: string): Promise<boolean> {
    this.check('delete');
    return this.rows.delete(id);
  }

  async touch(id: string): Promise<Vm> {
    return this.apply(id, { lastUsedAt: new Date() });
  }

  async dnsRecords(): Promise<DnsRecord[]> {
    return dnsRecordsOf([...this.rows.values()]);
  }
}

/** An operation handle that keeps what it is given: events in order, resources still held. */
export class RecordingOperation {
  readonly opId: string;
  readonly events: OpEventBody[] = [];
  readonly resources = new Map<string, { kind: string; ref: string; detail?: Record<string, unknown> }>();
  readonly controller = new AbortController();
  readonly signal = this.controller.signal;

  constructor(opId = 'op-test00000000') {
    this.opId = opId;
  }

  readonly emit = async (e: OpEventBody): Promise<void> => {
    this.events.push(e);
  };

  async recordResource(kind: string, ref: string, detail?: Record<string, unknown>): Promise<void> {
    this.resources.set(`${kind}:${ref}`, { kind, ref, ...(detail ? { detail } : {}) });
  }

  async releaseResource(kind: string, ref: string): Promise<void> {
    this.resources.delete(`${kind}:${ref}`);
  }

  /** Resolves once the operation has started `stage` (the work keeps running). */
  async untilStageStarted(stage: string): Promise<void> {
    while (!this.events.some((e) => e.type === 'stage_started' && e.stage === stage)) await new Promise((r) => setTimeout(r, 1));
  }

  stagesFinished(): string[] {
    return this.events.flatMap((e) => (e.type === 'stage_finished' && e.ok ? [e.stage] : []));
  }

  failure(): Extract<OpEventBody, { type: 'failure' }> | undefined {
    return this.events.find((e): e is Extract<OpEventBody, { type: 'failure' }> => e.type === 'failure');
  }
}

/** GuestFiles that keeps each upload's spec and bytes; `failWith` makes the next upload fail. */
export class FakeFiles implements GuestFiles {
  readonly uploads: { vmId: string; spec: UploadSpec; bytes: Buffer }[] = [];
  failWith: Error | undefined;

  async upload(vm: FileCopyVm, spec: UploadSpec, source: AsyncIterable<Buffer>): Promise<{ guestPath: string }> {
    const parts: Buffer[] = [];
    for await (const c of source) parts.push(c);
    if (this.failWith) throw this.failWith;
    this.uploads.push({ vmId: vm.id, spec, bytes: Buffer.concat(parts) });
    return { guestPath: spec.destPath };
  }

  async download(): Promise<void> {
    throw new Error('FakeFiles.download is not used by these tests');
  }
}
