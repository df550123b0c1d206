import { describe, expect, it } from 'vitest';
import { vmRunPaths } from '../../domain/hypervisor/rundir.js';
import type { LaunchSpec } from '../../domain/vmspec/spec.js';
import { buildQemuArgv, netnsPrefix } from './argv.js';
import { isOurQemu } from './driver.js';

// Built by hand (as validateLaunchSpec would) so the expected argv is spelled out in full.
const spec = {
  vmId: 'dev-1',
  memoryMib: 512,
  vcpus: 2,
  kernelPath: '/var/lib/banger/images/deb/vmlinux',
  initrdPath: '/var/lib/banger/images/deb/initrd.img',
  cmdline: [{ key: 'root', value: '/dev/vda' }, { key: 'rw' }, { key: 'panic', value: '-1' }, { key: 'banger.ip', value: '10.77.0.2/24' }],
  rootDisk: { path: '/var/lib/banger/vms/dev-1/root.qcow2', format: 'qcow2' },
  workDisk: { path: '/var/lib/banger/vms/dev-1/work.ext4', format: 'raw' },
  net: { tap: 'bgtap3', mac: '52:54:00:ab:cd:01' },
  run: vmRunPaths('/run/banger', 'dev-1'),
} as unknown as LaunchSpec;

const R = '/run/banger/vms/dev-1';

describe('buildQemuArgv', () => {
  it('builds the TCG microvm command line from HOST-FACTS', () => {
    expect(buildQemuArgv(spec, { qemuPath: '/usr/bin/qemu-system-x86_64', accel: 'tcg', tscKhz: 2596132, daemonize: true })).toEqual([
      '/usr/bin/qemu-system-x86_64',
      '-name', 'banger-dev-1,debug-threads=off',
      '-M', 'microvm',
      '-accel', 'tcg,tb-size=64', '-cpu', 'max',
      '-m', '512', '-smp', '2',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', '/var/lib/banger/images/deb/vmlinux',
      '-initrd', '/var/lib/banger/images/deb/initrd.img',
      '-append', 'console=ttyS0 root=/dev/vda rw panic=-1 banger.ip=10.77.0.2/24 tsc_early_khz=2596132',
      '-drive', 'id=root,file=/var/lib/banger/vms/dev-1/root.qcow2,format=qcow2,if=none',
      '-device', 'virtio-blk-device,drive=root',
      '-drive', 'id=work,file=/var/lib/banger/vms/dev-1/work.ext4,format=raw,if=none',
      '-device', 'virtio-blk-device,drive=work',
      '-netdev', 'tap,id=n0,ifname=bgtap3,script=no,downscript=no',
      '-device', 'virtio-net-device,netdev=n0,mac=52:54:00:ab:cd:01',
      '-device', 'virtio-serial-device',
      '-chardev', `socket,id=agent0,path=${R}/agent.sock,server=on,wait=off`,
      '-device', 'virtserialport,chardev=agent0,name=org.qemu.guest_agent.0',
      '-device', 'i8042',
      '-serial', `file:${R}/console.log`,
      '-qmp', `unix:${R}/qmp.sock,server=on,wait=off`,
      '-pidfile', `${R}/qemu.pid`,
      '-daemonize',
    ]);
  });

  it('uses -accel kvm -cpu host and no tsc_early_khz under KVM', () => {
    const argv = buildQemuArgv(spec, { qemuPath: 'qemu-system-x86_64', accel: 'kvm', tscKhz: 2596132, daemonize: false });
    expect(argv.slice(argv.indexOf('-accel'), argv.indexOf('-accel') + 4)).toEqual(['-accel', 'kvm', '-cpu', 'host']);
    expect(argv[argv.indexOf('-append') + 1]).not.toContain('tsc_early_khz');
    expect(argv).not.toContain('-daemonize');
  });

  it('keeps a caller-supplied console and tsc_early_khz, and omits absent optional devices', () => {
    const minimal = {
      vmId: spec.vmId,
      memoryMib: 256,
      vcpus: 1,
      kernelPath: spec.kernelPath,
      cmdline: [{ key: 'console', value: 'hvc0' }, { key: 'tsc_early_khz', value: '1000000' }],
      rootDisk: spec.rootDisk,
      run: spec.run,
    } as unknown as LaunchSpec;
    const argv = buildQemuArgv(minimal, { qemuPath: 'q', accel: 'tcg', tscKhz: 5, daemonize: true });
    expect(argv[argv.indexOf('-append') + 1]).toBe('console=hvc0 tsc_early_khz=1000000');
    expect(argv).not.toContain('-initrd');
    expect(argv).not.toContain('-netdev');
    expect(argv.filter((a) => a === 'virtio-blk-device,drive=work')).toHaveLength(0);
  });

  it('refuses a comma in a path as a last line of defence', () => {
    const evil = { ...spec, kernelPath: '/var/lib/banger/a,b' } as unknown as LaunchSpec;
    expect(() => buildQemuArgv(evil, { qemuPath: 'q', accel: 'tcg', tscKhz: null, daemonize: true })).toThrow(expect.objectContaining({ kind: 'INVALID_ARGUMENT' }));
  });

  it('prefixes ip netns exec only when a netns is given', () => {
    expect(netnsPrefix(spec)).toEqual([]);
    const inNs = { ...spec, net: { tap: 't', mac: '52:54:00:00:00:01', netns: 'banger-test-1' } } as unknown as LaunchSpec;
    expect(netnsPrefix(inNs, '/usr/sbin/ip')).toEqual(['/usr/sbin/ip', 'netns', 'exec', 'banger-test-1']);
  });
});

describe('isOurQemu', () => {
  const argv = buildQemuArgv(spec, { qemuPath: '/usr/bin/qemu-system-x86_64', accel: 'tcg', tscKhz: 1, daemonize: true });
  it('recognises the VM from its own command line', () => {
    expect(isOurQemu(argv, 'dev-1', `${R}/qemu.pid`)).toBe(true);
  });
  it('rejects another VM, another binary, or a reused pid', () => {
    expect(isOurQemu(argv, 'dev-2', `${R}/qemu.pid`)).toBe(false);
    expect(isOurQemu(argv, 'dev', `${R}/qemu.pid`)).toBe(false);
    expect(isOurQemu(['/usr/bin/sleep', '-name', 'banger-dev-1', '-pidfile', `${R}/qemu.pid`], 'dev-1', `${R}/qemu.pid`)).toBe(false);
    expect(isOurQemu(['/usr/bin/qemu-system-x86_64', '-m', '1'], 'dev-1', `${R}/qemu.pid`)).toBe(false);
  });
});
