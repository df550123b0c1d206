import type { HostCapabilities } from './driver.js';

export type CheckVerdict = 'pass' | 'warn' | 'fail';

export interface HostCheck {
  name: string;
  status: CheckVerdict;
  detail: string;
  fix: string;
}

/**
 * Turns probed capabilities into the pass/warn/fail lines `banger doctor` prints, each with
 * the command that fixes it, so the user never has to guess what the host lacks.
 */
export function hostChecks(caps: HostCapabilities): HostCheck[] {
  const apt = (pkgs: string): string => `apt-get install -y --no-install-recommends ${pkgs}`;
  return [
    caps.qemuPath
      ? { name: 'qemu', status: 'pass', detail: `${caps.qemuPath} (${caps.qemuVersion ?? 'unknown version'})`, fix: '' }
      : { name: 'qemu', status: 'fail', detail: 'qemu-system-x86_64 not found', fix: apt('qemu-system-x86') },
    caps.qemuImgPath
      ? { name: 'qemu-img', status: 'pass', detail: caps.qemuImgPath, fix: '' }
      : { name: 'qemu-img', status: 'fail', detail: 'qemu-img not found', fix: apt('qemu-utils') },
    caps.accel === 'kvm'
      ? { name: 'accel', status: 'pass', detail: `KVM: ${caps.reason}`, fix: '' }
      : {
          name: 'accel',
          status: 'warn',
          detail: `guests run under TCG software emulation (slower): ${caps.reason}`,
          fix: caps.kvm.cpuFlag === null ? 'run on a host with hardware virtualisation (vmx/svm) exposed' : 'modprobe kvm_intel  # or kvm_amd',
        },
    caps.tun
      ? { name: 'tun', status: 'pass', detail: '/dev/net/tun present', fix: '' }
      : { name: 'tun', status: 'fail', detail: '/dev/net/tun missing', fix: 'modprobe tun' },
    caps.bridge
      ? { name: 'bridge', status: 'pass', detail: 'bridge support available', fix: '' }
      : { name: 'bridge', status: 'warn', detail: 'bridge module not loaded yet (loaded on first use)', fix: 'modprobe bridge' },
    caps.nft
      ? { name: 'nft', status: 'pass', detail: 'nft found', fix: '' }
      : { name: 'nft', status: 'fail', detail: 'nft not found (needed for guest NAT)', fix: apt('nftables') },
  ];
}
