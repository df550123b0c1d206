import type { EgressPolicy } from './egress.js';
import type { ForwardSettings } from './forward.js';

/**
 * vmd's one entity: a microVM, what was asked for (spec), where its host files are (files),
 * how it is reached (network) and where it is in its life (state, see vm-state.ts). The store
 * keeps it as a row with JSON columns; adapters/vm-repo.ts maps between the two, so nothing in
 * app/ reads an untyped bag.
 */
export type VmState = 'creating' | 'starting' | 'running' | 'stopping' | 'stopped' | 'deleting' | 'error' | 'paused' | 'suspended';

export const VM_STATES: readonly VmState[] = ['creating', 'starting', 'running', 'stopping', 'stopped', 'deleting', 'error', 'paused', 'suspended'];

/** The only hypervisor this vmd runs. */
export type Hypervisor = 'qemu';

/** A network service the guest runs (e.g. opencode on 4096), as the image declares it. */
export interface GuestService {
  name: string;
  port: number;
  /** How readiness is probed in the guest. */
  readiness: 'tcp' | 'none';
  timeoutSeconds: number;
  /** Environment variable the service reads its per-VM secret from; '' when none. */
  secretEnv: string;
}

/** A per-VM secret of one guest service. SENSITIVE: shown only on explicit request. */
export interface ServiceCredential {
  service: string;
  username: string;
  password: string;
}

/** What the VM boots, fixed at create: every later start boots the same. */
export interface BootSpec {
  /** The kernel in privhelper's store the VM boots (name and package version). */
  storeKernel: { name: string; version: string };
  /** Where the kernel's files were when the VM was made (for display). */
  kernelPath: string;
  initrdPath: string;
  /** PID 1 in the guest (init=); '' for the kernel's default. */
  initPath: string;
  /** The image's own kernel arguments, appended after banger's. */
  kernelArgs: string[];
}

export interface VmSpec {
  image: { id: string; name: string; fingerprint: string };
  /** The kernel the VM boots, as the kernel catalog names it ('' for VMs made before it was kept). */
  kernel: { name: string; version: string };
  boot: BootSpec;
  workDiskBytes: number;
  workSeedFingerprint: string;
  services: GuestService[];
  /** Public keys authorised for root in the guest besides banger's own. */
  sshAuthorizedKeys: string[];
  /**
   * The guest's SSH host public keys when vmd made them (clones: `TYPE BASE64 COMMENT` lines),
   * so `vm ssh` trusts them without a prompt; empty when the guest made its own at first boot.
   */
  sshHostKeys: string[];
  hypervisor: Hypervisor;
  /** Port forwards the user asked for, and whether guest listeners are forwarded automatically. */
  forwards: ForwardSettings;
  /**
   * Guest RAM on a privhelper memfd that snapshots share (x-ignore-shared, docs/snapshots.md):
   * for template VMs (warm creates, fork sources). Internal: no request field sets it yet.
   * Absent on every other VM, which launches exactly as before.
   */
  sharedRam?: true;
  /** How the create made the VM and why (warm restore or cold boot, see create-path.ts); '' for older rows and clones. */
  createPath: string;
}

/** The VM's files on the host, '' until they exist. */
export interface VmFiles {
  rootDisk: string;
  workDisk: string;
  agentSocket: string;
  consoleLog: string;
}

export interface VmNetwork {
  ipv4: string | null;
  mac: string | null;
  /** Host tap device; null until the network stage gave it one. */
  tap: string | null;
}

export interface Vm {
  id: string;
  name: string;
  state: VmState;
  vcpus: number;
  memoryMib: number;
  spec: VmSpec;
  files: VmFiles;
  network: VmNetwork;
  /** What the guest may reach beyond banger's DNS; enforced by privhelper's fences while it runs. */
  egress: EgressPolicy;
  /** Host pid of the hypervisor; null when not running. */
  pid: number | null;
  credentials: ServiceCredential[];
  createOpId: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  stoppedAt: Date | null;
  lastUsedAt: Date | null;
}

/** A VM as first recorded, before the store has stamped it. */
export type NewVm = Omit<Vm, 'createdAt' | 'updatedAt' | 'startedAt' | 'stoppedAt' | 'lastUsedAt' | 'pid'>;

/** What a use case may change on a VM besides its state (state changes go through transitions). */
export type VmPatch = Partial<Pick<Vm, 'spec' | 'files' | 'pid' | 'credentials' | 'startedAt' | 'stoppedAt' | 'lastUsedAt' | 'vcpus' | 'memoryMib' | 'egress'>> & {
  network?: Partial<VmNetwork>;
};

export const NO_FILES: VmFiles = { rootDisk: '', workDisk: '', agentSocket: '', consoleLog: '' };

/** Name → address of a VM, for the `.vm` DNS responder. */
export interface DnsRecord {
  name: string;
  ipv4: string;
}

/** The DNS records of the VMs that have an address. */
export function dnsRecordsOf(vms: readonly Vm[]): DnsRecord[] {
  return vms.flatMap((v) => (v.network.ipv4 ? [{ name: v.name, ipv4: v.network.ipv4 }] : []));
}

/** The VM as the JSON an operation's result event keeps (dates as ISO strings); see vmFromJson. */
export function vmToJson(vm: Vm): Record<string, unknown> {
  return JSON.parse(JSON.stringify(vm)) as Record<string, unknown>;
}

const DATE_KEYS = ['createdAt', 'updatedAt', 'startedAt', 'stoppedAt', 'lastUsedAt'] as const;

/** A VM kept by vmToJson, back to the entity. */
export function vmFromJson(json: Record<string, unknown>): Vm {
  const vm = { ...json } as Record<string, unknown>;
  for (const k of DATE_KEYS) vm[k] = typeof vm[k] === 'string' ? new Date(vm[k]) : null;
  return vm as unknown as Vm;
}
