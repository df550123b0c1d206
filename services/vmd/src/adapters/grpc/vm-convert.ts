import { vmv1 } from '@banger/api';
import type { JsonObject, VmRecord, VmState } from '@banger/store';

const STATE: Record<VmState, vmv1.VmState> = {
  creating: vmv1.VmState.VM_STATE_CREATING,
  starting: vmv1.VmState.VM_STATE_STARTING,
  running: vmv1.VmState.VM_STATE_RUNNING,
  stopping: vmv1.VmState.VM_STATE_STOPPING,
  stopped: vmv1.VmState.VM_STATE_STOPPED,
  error: vmv1.VmState.VM_STATE_ERROR,
  deleting: vmv1.VmState.VM_STATE_DELETING,
};

export function vmStateToProto(state: VmState): vmv1.VmState {
  return STATE[state];
}

export function vmStateFromProto(state: vmv1.VmState): VmState | undefined {
  return (Object.entries(STATE) as [VmState, vmv1.VmState][]).find(([, v]) => v === state)?.[0];
}

const GIB = 1024 * 1024 * 1024;

function str(obj: JsonObject, key: string): string {
  const v = obj[key];
  return typeof v === 'string' ? v : '';
}

function credentialsOf(spec: JsonObject): vmv1.ServiceCredential[] {
  const raw = spec['credentials'];
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((c): c is JsonObject => typeof c === 'object' && c !== null)
    .map((c) => ({ service: str(c, 'service'), username: str(c, 'username'), password: str(c, 'password') }));
}

export interface VmViewSettings {
  /** banger's private key that every VM authorises. */
  sshKeyPath: string;
  knownHostsPath: string;
  /** Network namespace the VMs live in, if any: ssh must run inside it. */
  netns: string | null;
}

let view: VmViewSettings | undefined;

/** Set once at start-up: how users reach VMs from this host (ssh command, service URLs). */
export function configureVmView(settings: VmViewSettings): void {
  view = settings;
}

function sshInfo(vm: VmRecord): vmv1.SshInfo | undefined {
  if (!view || !vm.ipv4) return undefined;
  const prefix = view.netns ? ['ip', 'netns', 'exec', view.netns] : [];
  return {
    user: 'root',
    host: vm.ipv4,
    port: 22,
    command: [...prefix, 'ssh', '-i', view.sshKeyPath, '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${view.knownHostsPath}`, `root@${vm.ipv4}`],
    hostKeyFingerprints: [],
  };
}

function servicesOf(vm: VmRecord, includeSecrets: boolean): vmv1.GuestService[] {
  const raw = vm.spec['services'];
  if (!Array.isArray(raw)) return [];
  const creds = credentialsOf(vm.spec);
  return raw
    .filter((x): x is JsonObject => typeof x === 'object' && x !== null && !Array.isArray(x))
    .map((x) => {
      const name = str(x, 'name');
      const port = typeof x['port'] === 'number' ? x['port'] : 0;
      const cred = creds.find((c) => c.service === name);
      return {
        name,
        port,
        ready: vm.state === 'running',
        url: `http://${vm.name}.vm:${port}`,
        credential: includeSecrets && cred ? cred.password : '',
      };
    });
}

/**
 * A VM row as the wire's Vm. Credentials are SENSITIVE: only filled when the caller asked
 * (GetVm include_secrets); everything else the row knows is always shown.
 */
export function vmToProto(vm: VmRecord, opts: { includeSecrets?: boolean } = {}): vmv1.Vm {
  return vmv1.Vm.fromPartial({
    id: vm.id,
    name: vm.name,
    state: vmStateToProto(vm.state),
    image: { id: vm.imageId, name: str(vm.spec, 'imageName'), fingerprint: str(vm.spec, 'imageFingerprint') },
    kernel: vm.kernelId ?? '',
    vcpus: vm.vcpus,
    memoryMib: vm.memoryMib,
    workDiskSizeBytes: typeof vm.spec['workDiskBytes'] === 'number' ? vm.spec['workDiskBytes'] : vm.workDiskGib * GIB,
    network: { ipv4: vm.ipv4 ?? '', mac: vm.mac ?? '', tap: vm.tap ?? '', dnsName: `${vm.name}.vm` },
    createdAt: vm.createdAt,
    startedAt: vm.startedAt ?? undefined,
    stoppedAt: vm.stoppedAt ?? undefined,
    lastUsedAt: vm.lastUsedAt ?? undefined,
    createOpId: vm.createOpId ?? '',
    pid: vm.pid ?? 0,
    credentials: opts.includeSecrets ? credentialsOf(vm.spec) : [],
    services: servicesOf(vm, opts.includeSecrets === true),
    ssh: sshInfo(vm),
    workSeedFingerprint: str(vm.spec, 'workSeedFingerprint'),
    hypervisor: vmv1.Hypervisor.HYPERVISOR_QEMU,
    files: {
      rootDiskPath: str(vm.runtime, 'rootDisk'),
      workDiskPath: str(vm.runtime, 'workDisk'),
      consoleLogPath: str(vm.runtime, 'consoleLog'),
      runDir: '',
    },
  });
}
