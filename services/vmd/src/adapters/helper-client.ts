import { helperv2 } from '@banger/api';
import { msToDuration, RpcError, ServiceClient } from '@banger/runtime';
import type { EgressPolicy } from '../domain/egress.js';
import type { DnsRecord } from '../domain/vm.js';
import type { DiskSource, GuestNetwork, HostHelper, HostHoldings, HostReadiness, LaunchInput, ReleasedVm, SavedStateView, VmDisk, VmProcess } from '../ports/host.js';

export function toProcess(p: helperv2.HypervisorProcess | undefined): VmProcess {
  const out: VmProcess = { pid: p?.pid ?? 0, agentSocket: p?.sockets?.agentPath ?? '', consoleLog: p?.sockets?.consoleLogPath ?? '' };
  const j = p?.jail;
  if (j) {
    out.jail = {
      uid: j.uid,
      gid: j.gid,
      layersApplied: j.layersApplied,
      layersSkipped: j.layersSkipped,
      seccompMode: j.seccompMode,
      capEff: j.capEff,
      noNewPrivs: j.noNewPrivs,
      ownNamespaces: j.ownNamespaces,
      memoryLimitBytes: j.memoryLimitBytes,
      pidsMax: j.pidsMax,
      cpuWeight: j.cpuWeight,
    };
  }
  return out;
}

/** privhelper over its Unix socket; the current op id travels with every call. */
export class HelperClient implements HostHelper {
  private readonly client: ServiceClient<typeof helperv2.HelperServiceService>;

  constructor(socketPath: string) {
    this.client = new ServiceClient(helperv2.HelperServiceService, socketPath, { peer: 'privhelper' });
  }

  async readiness(): Promise<HostReadiness> {
    const res = await this.client.unary('probeHost', { deep: false }, { timeoutMs: 30_000 });
    const caps = res.capabilities;
    return {
      accel: caps?.accel ?? '',
      blockers: (caps?.checks ?? [])
        .filter((c) => c.status === helperv2.CheckStatus.CHECK_STATUS_FAIL)
        .map((c) => ({ name: c.name, detail: c.detail, fix: c.fix })),
    };
  }

  async ensureNetwork(net: GuestNetwork): Promise<void> {
    // Independent: the NAT rules match the bridge by name, whether or not it exists yet.
    await Promise.all([
      this.client.unary('ensureBridge', { bridge: net.bridge, gatewayCidr: `${net.gateway}/${net.prefix}`, mtu: 0 }),
      this.client.unary('applyNat', { bridge: net.bridge, cidr: net.cidr, egressInterface: '' }),
    ]);
  }

  async acquireTap(vmId: string): Promise<string> {
    return (await this.client.unary('acquireTap', { vmId, bridge: '' })).tap;
  }

  async fenceVm(input: { vmId: string; ipv4: string; mac: string; egress: EgressPolicy }): Promise<void> {
    const mode = { allow: helperv2.EgressMode.EGRESS_MODE_ALLOW, deny: helperv2.EgressMode.EGRESS_MODE_DENY, list: helperv2.EgressMode.EGRESS_MODE_LIST }[input.egress.mode];
    await this.client.unary('fenceVm', { vmId: input.vmId, ipv4: input.ipv4, mac: input.mac, egress: { mode, cidrs: input.egress.cidrs, hostnames: input.egress.hostnames } });
  }

  async releaseTap(vmId: string): Promise<void> {
    await this.client.unary('releaseTap', { vmId });
  }

  async syncDns(records: DnsRecord[]): Promise<void> {
    await this.client.unary('syncDnsRecords', { records });
  }

  async createRootOverlay(vmId: string, image: DiskSource): Promise<string> {
    return (await this.client.unary('createOverlay', { vmId, image: image.storeImage })).path;
  }

  async removeRootOverlay(disk: VmDisk): Promise<void> {
    await this.client.unary('removeOverlay', { vmId: disk.vmId });
  }

  async createWorkDisk(vmId: string, image: DiskSource, sizeBytes: number): Promise<string> {
    return (await this.client.unary('createWorkDisk', { vmId, image: image.storeImage, sizeBytes }, { timeoutMs: 120_000 })).path;
  }

  async resizeWorkDisk(disk: VmDisk, sizeBytes: number): Promise<number> {
    return (await this.client.unary('resizeWorkDisk', { vmId: disk.vmId, sizeBytes }, { timeoutMs: 120_000 })).sizeBytes;
  }

  async removeWorkDisk(disk: VmDisk): Promise<void> {
    await this.client.unary('removeWorkDisk', { vmId: disk.vmId });
  }

  async launch(input: LaunchInput): Promise<VmProcess> {
    const res = await this.client.unary('launchHypervisor', helperv2.LaunchHypervisorRequest.fromPartial({ spec: specOf(input) }), { timeoutMs: 60_000 });
    return toProcess(res.process);
  }

  async pause(vmId: string): Promise<boolean> {
    return (await this.client.unary('pauseHypervisor', { vmId })).wasRunning;
  }

  async resume(vmId: string): Promise<boolean> {
    return (await this.client.unary('resumeHypervisor', { vmId })).wasPaused;
  }

  async suspend(vmId: string): Promise<SavedStateView> {
    return savedStateOf((await this.client.unary('suspendHypervisor', { vmId }, { timeoutMs: 180_000 })).state);
  }

  async restore(input: LaunchInput): Promise<VmProcess & { state: SavedStateView }> {
    const res = await this.client.unary('restoreHypervisor', helperv2.RestoreHypervisorRequest.fromPartial({ spec: specOf(input) }), { timeoutMs: 180_000 });
    return { ...toProcess(res.process), state: savedStateOf(res.state) };
  }

  async savedState(vmId: string): Promise<SavedStateView | undefined> {
    const { state } = await this.client.unary('describeSavedState', { vmId });
    return state === undefined ? undefined : savedStateOf(state);
  }

  async stop(vmId: string, timeoutMs: number): Promise<{ wasRunning: boolean; forced: boolean }> {
    const res = await this.client.unary('stopHypervisor', { vmId, timeout: msToDuration(timeoutMs) }, { timeoutMs: timeoutMs + 30_000 });
    return { wasRunning: res.wasRunning, forced: res.forced };
  }

  async kill(vmId: string): Promise<{ wasRunning: boolean }> {
    return this.client.unary('killHypervisor', { vmId }, { timeoutMs: 30_000 });
  }

  async find(vmId: string): Promise<VmProcess | undefined> {
    try {
      return toProcess((await this.client.unary('findHypervisor', { vmId })).process);
    } catch (err) {
      if (err instanceof RpcError && err.reason === 'VM_NOT_RUNNING') return undefined;
      throw err;
    }
  }

  async list(): Promise<(VmProcess & { vmId: string })[]> {
    const res = await this.client.unary('listHypervisors', {});
    return res.processes.map((p) => ({ vmId: p.vmId, ...toProcess(p) }));
  }

  async listHeld(): Promise<HostHoldings> {
    const res = await this.client.unary('listHeld', {}, { timeoutMs: 30_000 });
    return { vms: res.vms.map((v) => ({ ...v })), dnsRecords: [...res.dnsRecords], snapshots: res.snapshots.map((x) => ({ ...x })) };
  }

  async releaseVm(vmId: string): Promise<ReleasedVm> {
    return this.client.unary('releaseVm', { vmId }, { timeoutMs: 60_000 });
  }

  close(): void {
    this.client.close();
  }
}

/** The wire spec of a launch; a restore sends the same one. */
export function specOf(input: LaunchInput): helperv2.HypervisorSpec {
  return helperv2.HypervisorSpec.fromPartial({
    vmId: input.vmId,
    kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU,
    accel: helperv2.Accel.ACCEL_AUTO,
    memoryMib: input.memoryMib,
    vcpus: input.vcpus,
    kernel: input.kernel,
    cmdline: input.cmdline,
    workDisk: true,
    network: { mac: input.mac },
    sharedRam: input.sharedRam === true,
  });
}

function savedStateOf(s: helperv2.SavedState | undefined): SavedStateView {
  const d = s?.saveDuration;
  return { sizeBytes: s?.sizeBytes ?? 0, saveMs: d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : 0, savedAt: s?.savedAt };
}
