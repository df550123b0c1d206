import { isStoreError, VmStore, type JsonObject, type Queryable, type VmPatch as RowPatch, type VmRecord } from '@banger/store';
import { egressFromJson } from '../domain/egress.js';
import { forwardsFromJson } from '../domain/forward.js';
import { statesAllowedInto } from '../domain/vm-state.js';
import { dnsRecordsOf, type DnsRecord, type GuestService, type NewVm, type ServiceCredential, type Vm, type VmPatch, type VmSpec, type VmState } from '../domain/vm.js';
import type { VmFilter, VmRepository } from '../ports/vms.js';

const GIB = 1024 ** 3;

const str = (o: JsonObject, k: string): string => (typeof o[k] === 'string' ? o[k] : '');
const strs = (o: JsonObject, k: string): string[] => {
  const v = o[k];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
};
const objects = (o: JsonObject, k: string): JsonObject[] => {
  const v = o[k];
  return Array.isArray(v) ? v.filter((x): x is JsonObject => typeof x === 'object' && x !== null && !Array.isArray(x)) : [];
};

function serviceOf(o: JsonObject): GuestService {
  return {
    name: str(o, 'name'),
    port: typeof o['port'] === 'number' ? o['port'] : 0,
    readiness: o['readiness'] === 'none' ? 'none' : 'tcp',
    timeoutSeconds: typeof o['timeoutSeconds'] === 'number' ? o['timeoutSeconds'] : 180,
    secretEnv: str(o, 'secretEnv'),
  };
}

function credentialOf(o: JsonObject): ServiceCredential {
  return { service: str(o, 'service'), username: str(o, 'username'), password: str(o, 'password') };
}

/**
 * A stored row as the domain VM. The spec and runtime JSON columns keep the keys they always
 * had (rows written before a key existed read as empty), so VMs made by older vmds still boot.
 */
export function vmFromRecord(r: VmRecord): Vm {
  const s = r.spec;
  const spec: VmSpec = {
    image: { id: r.imageId, name: str(s, 'imageName'), fingerprint: str(s, 'imageFingerprint') },
    kernel: { name: str(s, 'kernelName') || (r.kernelId ?? ''), version: str(s, 'kernelVersion') },
    boot: { storeKernel: storeKernelOf(s), kernelPath: str(s, 'kernelPath'), initrdPath: str(s, 'initrdPath'), initPath: str(s, 'initPath'), kernelArgs: strs(s, 'kernelArgs') },
    workDiskBytes: typeof s['workDiskBytes'] === 'number' ? s['workDiskBytes'] : r.workDiskGib * GIB,
    workSeedFingerprint: str(s, 'workSeedFingerprint'),
    services: objects(s, 'services').map(serviceOf),
    sshAuthorizedKeys: strs(s, 'sshAuthorizedKeys'),
    sshHostKeys: strs(s, 'sshHostKeys'),
    hypervisor: 'qemu',
    forwards: forwardsFromJson(s['forwards']),
    createPath: str(s, 'createPath'),
    ...(s['sharedRam'] === true ? { sharedRam: true as const } : {}),
  };
  return {
    id: r.id,
    name: r.name,
    state: r.state,
    vcpus: r.vcpus,
    memoryMib: r.memoryMib,
    spec,
    files: { rootDisk: str(r.runtime, 'rootDisk'), workDisk: str(r.runtime, 'workDisk'), agentSocket: str(r.runtime, 'agentSocket'), consoleLog: str(r.runtime, 'consoleLog') },
    network: { ipv4: r.ipv4, mac: r.mac, tap: r.tap },
    egress: egressFromJson(r.egress),
    pid: r.pid,
    credentials: objects(s, 'credentials').map(credentialOf),
    createOpId: r.createOpId,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    startedAt: r.startedAt,
    stoppedAt: r.stoppedAt,
    lastUsedAt: r.lastUsedAt,
  };
}

function specJson(spec: VmSpec, credentials: readonly ServiceCredential[]): JsonObject {
  return {
    imageName: spec.image.name,
    imageFingerprint: spec.image.fingerprint,
    workSeedFingerprint: spec.workSeedFingerprint,
    workDiskBytes: spec.workDiskBytes,
    kernelName: spec.kernel.name,
    kernelVersion: spec.kernel.version,
    storeKernel: { ...spec.boot.storeKernel },
    kernelPath: spec.boot.kernelPath,
    initrdPath: spec.boot.initrdPath,
    initPath: spec.boot.initPath,
    kernelArgs: [...spec.boot.kernelArgs],
    services: spec.services.map((x) => ({ ...x })),
    sshAuthorizedKeys: [...spec.sshAuthorizedKeys],
    sshHostKeys: [...spec.sshHostKeys],
    hypervisor: spec.hypervisor,
    forwards: { auto: spec.forwards.auto, ports: spec.forwards.ports.map((p) => ({ ...p })) },
    credentials: credentials.map((c) => ({ ...c })),
    createPath: spec.createPath,
    ...(spec.sharedRam === true ? { sharedRam: true } : {}),
  };
}

/** The row columns a domain patch changes; spec and credentials share the spec column. */
function rowPatch(current: Vm, patch: VmPatch): RowPatch {
  const out: RowPatch = {};
  if (patch.spec || patch.credentials) {
    const spec = patch.spec ?? current.spec;
    out.spec = specJson(spec, patch.credentials ?? current.credentials);
    out.workDiskGib = Math.ceil(spec.workDiskBytes / GIB);
    out.kernelId = spec.kernel.name || null;
  }
  if (patch.files) out.runtime = { ...patch.files };
  if (patch.network?.tap !== undefined) out.tap = patch.network.tap;
  if (patch.network?.ipv4 !== undefined) out.ipv4 = patch.network.ipv4;
  if (patch.network?.mac !== undefined) out.mac = patch.network.mac;
  if (patch.pid !== undefined) out.pid = patch.pid;
  if (patch.egress !== undefined) out.egress = { mode: patch.egress.mode, cidrs: [...patch.egress.cidrs], hostnames: [...patch.egress.hostnames] };
  if (patch.vcpus !== undefined) out.vcpus = patch.vcpus;
  if (patch.memoryMib !== undefined) out.memoryMib = patch.memoryMib;
  if (patch.startedAt !== undefined) out.startedAt = patch.startedAt;
  if (patch.stoppedAt !== undefined) out.stoppedAt = patch.stoppedAt;
  if (patch.lastUsedAt !== undefined) out.lastUsedAt = patch.lastUsedAt;
  return out;
}

/** The VM port over the store's VmStore, mapping rows to the domain VM both ways. */
export class PgVmRepo implements VmRepository {
  private readonly store: VmStore;

  constructor(db: Queryable) {
    this.store = new VmStore(db);
  }

  async findByRef(ref: string): Promise<Vm> {
    return vmFromRecord(await this.store.findByRef(ref));
  }

  async findByName(name: string): Promise<Vm | undefined> {
    try {
      return vmFromRecord(await this.store.getByName(name));
    } catch (err) {
      if (isStoreError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
  }

  async getById(id: string): Promise<Vm> {
    return vmFromRecord(await this.store.getById(id));
  }

  async list(filter: VmFilter = {}): Promise<Vm[]> {
    const rows = await this.store.list(filter.states ? { state: filter.states } : {});
    const vms = rows.map(vmFromRecord);
    return filter.image === undefined ? vms : vms.filter((v) => v.spec.image.id === filter.image || v.spec.image.name === filter.image);
  }

  usedIpv4(): Promise<string[]> {
    return this.store.usedIpv4();
  }

  async insert(vm: NewVm): Promise<Vm> {
    return vmFromRecord(
      await this.store.insert({
        id: vm.id,
        name: vm.name,
        state: vm.state,
        imageId: vm.spec.image.id,
        kernelId: vm.spec.kernel.name || null,
        vcpus: vm.vcpus,
        memoryMib: vm.memoryMib,
        workDiskGib: Math.ceil(vm.spec.workDiskBytes / GIB),
        spec: specJson(vm.spec, vm.credentials),
        runtime: { ...vm.files },
        ipv4: vm.network.ipv4,
        mac: vm.network.mac,
        tap: vm.network.tap,
        egress: { mode: vm.egress.mode, cidrs: [...vm.egress.cidrs], hostnames: [...vm.egress.hostnames] },
        createOpId: vm.createOpId,
      }),
    );
  }

  async update(id: string, patch: VmPatch): Promise<Vm> {
    const current = await this.getById(id);
    const row = rowPatch(current, patch);
    return Object.keys(row).length === 0 ? current : vmFromRecord(await this.store.update(id, row));
  }

  async transition(id: string, to: VmState, patch: VmPatch = {}): Promise<Vm> {
    const current = await this.getById(id);
    return vmFromRecord(await this.store.update(id, { ...rowPatch(current, patch), state: to }, { expectState: statesAllowedInto(to) }));
  }

  async delete(id: string): Promise<boolean> {
    try {
      await this.store.delete(id);
      return true;
    } catch (err) {
      if (isStoreError(err, 'NOT_FOUND')) return false;
      throw err;
    }
  }

  async touch(id: string): Promise<Vm> {
    await this.store.touch(id);
    return this.getById(id);
  }

  async dnsRecords(): Promise<DnsRecord[]> {
    return dnsRecordsOf((await this.store.list()).map(vmFromRecord));
  }
}

/**
 * The kernel a row boots, by name and version in privhelper's store. Rows from before that
 * store name only the staged vmlinux (`.../kernels/<name>/<version>/vmlinux`).
 */
export function storeKernelOf(s: Record<string, unknown>): { name: string; version: string } {
  const k = s['storeKernel'];
  if (typeof k === 'object' && k !== null) {
    const { name, version } = k as Record<string, unknown>;
    if (typeof name === 'string' && typeof version === 'string') return { name, version };
  }
  const parts = typeof s['kernelPath'] === 'string' ? s['kernelPath'].split('/') : [];
  return { name: parts.at(-3) ?? '', version: parts.at(-2) ?? '' };
}
