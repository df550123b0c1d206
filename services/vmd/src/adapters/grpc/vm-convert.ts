import { vmv1 } from '@banger/api';
import type { EgressPolicy } from '../../domain/egress.js';
import { hostKeyFingerprint } from '../../domain/host-keys.js';
import type { Vm, VmState } from '../../domain/vm.js';
import type { ForwardState } from '../../ports/forwards.js';
import type { VmJail } from '../../ports/host.js';

const STATE: Record<VmState, vmv1.VmState> = {
  creating: vmv1.VmState.VM_STATE_CREATING,
  starting: vmv1.VmState.VM_STATE_STARTING,
  running: vmv1.VmState.VM_STATE_RUNNING,
  stopping: vmv1.VmState.VM_STATE_STOPPING,
  stopped: vmv1.VmState.VM_STATE_STOPPED,
  error: vmv1.VmState.VM_STATE_ERROR,
  deleting: vmv1.VmState.VM_STATE_DELETING,
  paused: vmv1.VmState.VM_STATE_PAUSED,
  suspended: vmv1.VmState.VM_STATE_SUSPENDED,
};

export function vmStateToProto(state: VmState): vmv1.VmState {
  return STATE[state];
}

/** A wire state as the domain's; UNSPECIFIED or unknown values are undefined. */
export function vmStateFromProto(state: vmv1.VmState): VmState | undefined {
  return (Object.entries(STATE) as [VmState, vmv1.VmState][]).find(([, v]) => v === state)?.[0];
}

/** The wire's hypervisor as the label CreateVm validation judges. */
export function hypervisorFromProto(h: vmv1.Hypervisor): string {
  if (h === vmv1.Hypervisor.HYPERVISOR_UNSPECIFIED) return 'unspecified';
  if (h === vmv1.Hypervisor.HYPERVISOR_QEMU) return 'qemu';
  if (h === vmv1.Hypervisor.HYPERVISOR_FIRECRACKER) return 'firecracker';
  return `hypervisor ${String(h)}`;
}

const EGRESS: Record<EgressPolicy['mode'], vmv1.EgressMode> = {
  allow: vmv1.EgressMode.EGRESS_MODE_ALLOW,
  deny: vmv1.EgressMode.EGRESS_MODE_DENY,
  list: vmv1.EgressMode.EGRESS_MODE_LIST,
};

export function egressToProto(p: EgressPolicy): vmv1.EgressPolicy {
  return { mode: EGRESS[p.mode], cidrs: [...p.cidrs], hostnames: [...p.hostnames] };
}

/** The wire's policy as labels for validation; UNSPECIFIED is allow, an unknown mode keeps its number so the refusal can name it. */
export function egressFromProto(p: vmv1.EgressPolicy): { mode: string; cidrs: string[]; hostnames: string[] } {
  const mode = p.mode === vmv1.EgressMode.EGRESS_MODE_UNSPECIFIED ? 'allow' : ((Object.entries(EGRESS).find(([, v]) => v === p.mode)?.[0] as string | undefined) ?? `mode ${String(p.mode)}`);
  return { mode, cidrs: p.cidrs, hostnames: p.hostnames };
}

export function forwardToProto(f: ForwardState): vmv1.PortForward {
  return { guestPort: f.guestPort, hostAddress: f.hostAddress, hostPort: f.hostPort, auto: f.auto, connections: f.connections, problem: f.problem };
}

export interface VmViewSettings {
  /** banger's private key that every VM authorises. */
  sshKeyPath: string;
}

/**
 * The domain VM as the wire's Vm, with how users reach it from this host (ssh command,
 * service URLs). Credentials are SENSITIVE: only filled when the caller asked (GetVm
 * include_secrets); everything else the VM knows is always shown.
 */
export class VmView {
  constructor(private readonly settings: VmViewSettings | undefined = undefined) {}

  toProto(vm: Vm, opts: { includeSecrets?: boolean; jail?: VmJail | undefined; forwards?: readonly ForwardState[] } = {}): vmv1.Vm {
    const secrets = opts.includeSecrets === true;
    return vmv1.Vm.fromPartial({
      id: vm.id,
      name: vm.name,
      state: vmStateToProto(vm.state),
      image: { ...vm.spec.image },
      kernel: vm.spec.kernel.name,
      vcpus: vm.vcpus,
      memoryMib: vm.memoryMib,
      workDiskSizeBytes: vm.spec.workDiskBytes,
      network: { ipv4: vm.network.ipv4 ?? '', mac: vm.network.mac ?? '', tap: vm.network.tap ?? '', dnsName: `${vm.name}.vm` },
      createdAt: vm.createdAt,
      startedAt: vm.startedAt ?? undefined,
      stoppedAt: vm.stoppedAt ?? undefined,
      lastUsedAt: vm.lastUsedAt ?? undefined,
      createOpId: vm.createOpId ?? '',
      pid: vm.pid ?? 0,
      credentials: secrets ? vm.credentials.map((c) => ({ ...c })) : [],
      services: vm.spec.services.map((s) => {
        const cred = vm.credentials.find((c) => c.service === s.name);
        return { name: s.name, port: s.port, ready: vm.state === 'running', url: `http://${vm.name}.vm:${s.port}`, credential: secrets && cred ? cred.password : '' };
      }),
      ssh: this.sshInfo(vm),
      workSeedFingerprint: vm.spec.workSeedFingerprint,
      hypervisor: vmv1.Hypervisor.HYPERVISOR_QEMU,
      egress: egressToProto(vm.egress),
      files: { rootDiskPath: vm.files.rootDisk, workDiskPath: vm.files.workDisk, consoleLogPath: vm.files.consoleLog, runDir: '' },
      jail: opts.jail,
      forwards: (opts.forwards ?? []).map(forwardToProto),
      autoForward: vm.spec.forwards.auto,
      createPath: vm.spec.createPath,
    });
  }

  private sshInfo(vm: Vm): vmv1.SshInfo | undefined {
    const ip = vm.network.ipv4;
    if (!this.settings || !ip) return undefined;
    // `banger vm ssh` is the one command that works in every network mode (it tunnels through
    // vmd when the VMs live in a namespace) with the user's own known_hosts.
    return { user: 'root', host: ip, port: 22, command: ['banger', 'vm', 'ssh', vm.name], hostKeyFingerprints: vm.spec.sshHostKeys.map(hostKeyFingerprint),
      identityFile: this.settings.sshKeyPath,
      hostKeys: [...vm.spec.sshHostKeys],
    };
  }
}
