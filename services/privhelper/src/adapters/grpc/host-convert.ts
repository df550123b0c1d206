import { helperv2 } from '@banger/api';
import type { HostCheck } from '../../domain/hypervisor/checks.js';
import type { HostCapabilities } from '../../domain/hypervisor/driver.js';

const VERDICT: Record<HostCheck['status'], helperv2.CheckStatus> = {
  pass: helperv2.CheckStatus.CHECK_STATUS_PASS,
  warn: helperv2.CheckStatus.CHECK_STATUS_WARN,
  fail: helperv2.CheckStatus.CHECK_STATUS_FAIL,
};

export interface HostFacts {
  caps: HostCapabilities;
  checks: HostCheck[];
  cpuCount: number;
  memoryBytes: number;
  stateFreeBytes: number;
}

export function hostCapabilitiesToProto(f: HostFacts): helperv2.HostCapabilities {
  return helperv2.HostCapabilities.fromPartial({
    kvmPresent: f.caps.kvm.deviceNode,
    kvmUsable: f.caps.kvm.usable,
    kvmDetail: f.caps.reason,
    tcgAvailable: f.caps.qemuPath !== null,
    accel: f.caps.qemuPath !== null ? f.caps.accel : '',
    qemuPath: f.caps.qemuPath ?? '',
    qemuVersion: f.caps.qemuVersion ?? '',
    qemuImgAvailable: f.caps.qemuImgPath !== null,
    tunAvailable: f.caps.tun,
    bridgeAvailable: f.caps.bridge,
    nftAvailable: f.caps.nft,
    vhostVsockAvailable: f.caps.vhostVsock,
    firecrackerAvailable: false,
    cpuCount: f.cpuCount,
    memoryBytes: f.memoryBytes,
    stateFreeBytes: f.stateFreeBytes,
    checks: f.checks.map((c) => ({ name: c.name, status: VERDICT[c.status], detail: c.detail, fix: c.fix })),
  });
}
