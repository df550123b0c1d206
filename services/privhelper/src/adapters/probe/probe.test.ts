import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseAccel, cpuFlagFromCpuinfo, probeHost, tscKhzFromCpuinfo } from './probe.js';

const PVM_CPUINFO = 'processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.132\nflags\t\t: fpu tsc hypervisor constant_tsc\n';
const INTEL_CPUINFO = 'processor\t: 0\ncpu MHz\t\t: 3000.000\nflags\t\t: fpu vmx tsc constant_tsc\n';

describe('chooseAccel', () => {
  const pvm = { deviceNode: true, cpuFlag: null, modules: ['kvm', 'kvm_pvm'] } as const;
  const hw = { deviceNode: true, cpuFlag: 'vmx', modules: ['kvm', 'kvm_intel'] } as const;

  it('picks TCG on a PVM host even though /dev/kvm exists, and says why', () => {
    const c = chooseAccel('auto', pvm);
    expect(c.accel).toBe('tcg');
    expect(c.usable).toBe(false);
    expect(c.reason).toContain('kvm_pvm');
    expect(c.reason).toContain('vmx/svm');
  });
  it('picks KVM with hardware virtualisation', () => {
    expect(chooseAccel('auto', hw)).toMatchObject({ accel: 'kvm', usable: true });
  });
  it('falls back to TCG when the boot probe fails', () => {
    expect(chooseAccel('auto', { ...hw, bootProbe: { ok: false, detail: 'MSR' } })).toMatchObject({ accel: 'tcg', usable: false });
  });
  it('honours the config override both ways', () => {
    expect(chooseAccel('tcg', hw).accel).toBe('tcg');
    const forced = chooseAccel('kvm', pvm);
    expect(forced.accel).toBe('kvm');
    expect(forced.reason).toContain('forced');
  });
});

describe('cpuinfo parsing', () => {
  it('reads flags and the TSC rate', () => {
    expect(cpuFlagFromCpuinfo(PVM_CPUINFO)).toBeNull();
    expect(cpuFlagFromCpuinfo(INTEL_CPUINFO)).toBe('vmx');
    expect(tscKhzFromCpuinfo(PVM_CPUINFO)).toBe(2596132);
    expect(tscKhzFromCpuinfo('nothing')).toBeNull();
  });
});

describe('probeHost against a fake /proc + /sys', () => {
  let tmp = '';
  afterAll(async () => {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });
  it('chooses TCG on a PVM-like tree with no /proc/modules', async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'banger-probe-'));
    await mkdir(path.join(tmp, 'proc'), { recursive: true });
    await mkdir(path.join(tmp, 'sys/module/kvm_pvm'), { recursive: true });
    await mkdir(path.join(tmp, 'sys/module/kvm'), { recursive: true });
    await mkdir(path.join(tmp, 'dev/net'), { recursive: true });
    await writeFile(path.join(tmp, 'proc/cpuinfo'), PVM_CPUINFO);
    await writeFile(path.join(tmp, 'dev/kvm'), '');
    await writeFile(path.join(tmp, 'dev/net/tun'), '');
    const caps = await probeHost({ fsRoot: tmp, qemuPath: '/nonexistent/qemu' });
    expect(caps.accel).toBe('tcg');
    expect(caps.kvm.modules).toEqual(['kvm', 'kvm_pvm']);
    expect(caps.kvm.deviceNode).toBe(true);
    expect(caps.tscKhz).toBe(2596132);
    expect(caps.tun).toBe(true);
    expect(caps.vhostVsock).toBe(false);
    expect(caps.qemuVersion).toBeNull();
  });
});
