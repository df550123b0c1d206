import { describe, expect, it } from 'vitest';
import { hostChecks } from './checks.js';
import type { HostCapabilities } from './driver.js';

const base: HostCapabilities = {
  accel: 'tcg',
  reason: 'TCG: CPU has no vmx/svm flag',
  kvm: { usable: false, deviceNode: true, cpuFlag: null, modules: ['kvm', 'kvm_pvm'] },
  qemuPath: '/usr/bin/qemu-system-x86_64',
  qemuVersion: '7.2.0',
  qemuImgPath: '/usr/bin/qemu-img',
  tscKhz: 2_600_000,
  tun: true,
  bridge: true,
  nft: true,
  vhostVsock: false,
  cgroupV2: true,
};

describe('hostChecks', () => {
  it('warns about TCG with the reason', () => {
    const accel = hostChecks(base).find((c) => c.name === 'accel');
    expect(accel).toMatchObject({ status: 'warn' });
    expect(accel?.detail).toContain('no vmx/svm');
  });

  it('fails a missing QEMU with the install command', () => {
    const qemu = hostChecks({ ...base, qemuPath: null, qemuVersion: null }).find((c) => c.name === 'qemu');
    expect(qemu).toEqual({ name: 'qemu', status: 'fail', detail: 'qemu-system-x86_64 not found', fix: 'apt-get install -y --no-install-recommends qemu-system-x86' });
  });

  it('passes KVM when the probe chose it', () => {
    expect(hostChecks({ ...base, accel: 'kvm', reason: 'hardware KVM' }).find((c) => c.name === 'accel')?.status).toBe('pass');
  });
});
