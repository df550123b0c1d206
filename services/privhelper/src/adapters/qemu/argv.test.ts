import { describe, expect, it } from 'vitest';
import { vmRunPaths } from '../../domain/hypervisor/rundir.js';
import type { LaunchSpec } from '../../domain/vmspec/spec.js';
import { buildQemuArgv, netnsPrefix, type LaunchPlan } from './argv.js';
import { isOurQemu } from './driver.js';

const R = '/run/banger/helper/vms/dev-1';
const K = '/var/lib/banger/helper/kernels/debian-cloud/6.1.1-1';

// Built by hand (as validateLaunchSpec and LaunchVm would) so the expected argv is spelled out in full.
const spec = {
  vmId: 'dev-1',
  memoryMib: 512,
  vcpus: 2,
  kernel: { name: 'debian-cloud', version: '6.1.1-1' },
  cmdline: [{ key: 'root', value: '/dev/vda' }, { key: 'rw' }, { key: 'panic', value: '-1' }, { key: 'banger.ip', value: '10.77.0.2/24' }],
  workDisk: true,
  mac: '52:54:00:ab:cd:01',
  run: vmRunPaths('/run/banger/helper/vms', 'dev-1'),
} as unknown as LaunchSpec;

const plan: LaunchPlan = {
  spec,
  kernelPath: `${K}/vmlinux`,
  initrdPath: `${K}/initrd.img`,
  fds: { overlay: 3, base: 4, work: 5 },
  net: { tap: 'bgtap3', mac: '52:54:00:ab:cd:01' },
};

describe('buildQemuArgv', () => {
  it('builds the TCG microvm command line from HOST-FACTS, disks only as fd-backed nodes with a pinned chain', () => {
    expect(buildQemuArgv(plan, { qemuPath: '/usr/bin/qemu-system-x86_64', accel: 'tcg', tscKhz: 2596132, daemonize: true })).toEqual([
      '/usr/bin/qemu-system-x86_64',
      '-name', 'banger-dev-1,debug-threads=off',
      '-M', 'microvm',
      '-accel', 'tcg,tb-size=64', '-cpu', 'max',
      '-m', '512', '-smp', '2',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', `${K}/vmlinux`,
      '-initrd', `${K}/initrd.img`,
      '-append', 'console=ttyS0 root=/dev/vda rw panic=-1 banger.ip=10.77.0.2/24 tsc_early_khz=2596132',
      '-add-fd', 'fd=3,set=1,opaque=root-overlay',
      '-add-fd', 'fd=4,set=2,opaque=root-base',
      '-blockdev', 'driver=file,node-name=root-base-file,filename=/dev/fdset/2,read-only=on',
      '-blockdev', 'driver=raw,node-name=root-base,file=root-base-file,read-only=on',
      '-blockdev', 'driver=file,node-name=root-file,filename=/dev/fdset/1',
      '-blockdev', 'driver=qcow2,node-name=root,file=root-file,backing=root-base',
      '-device', 'virtio-blk-device,drive=root',
      '-add-fd', 'fd=5,set=3,opaque=work',
      '-blockdev', 'driver=file,node-name=work-file,filename=/dev/fdset/3',
      '-blockdev', 'driver=raw,node-name=work,file=work-file',
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

  it('never names a disk file: no -drive, no file= path, and the qcow2 backing is a node, not a header name', () => {
    const argv = buildQemuArgv(plan, { qemuPath: 'q', accel: 'tcg', tscKhz: null, daemonize: true });
    expect(argv).not.toContain('-drive');
    for (const a of argv.filter((_, i) => argv[i - 1] === '-blockdev')) expect(a).not.toMatch(/filename=\/(?!dev\/fdset\/)/);
  });

  it('uses -accel kvm -cpu host and no tsc_early_khz under KVM', () => {
    const argv = buildQemuArgv(plan, { qemuPath: 'qemu-system-x86_64', accel: 'kvm', tscKhz: 2596132, daemonize: false });
    expect(argv.slice(argv.indexOf('-accel'), argv.indexOf('-accel') + 4)).toEqual(['-accel', 'kvm', '-cpu', 'host']);
    expect(argv[argv.indexOf('-append') + 1]).not.toContain('tsc_early_khz');
    expect(argv).not.toContain('-daemonize');
  });

  it('keeps a caller-supplied console and tsc_early_khz, and omits absent optional devices', () => {
    const minimal: LaunchPlan = {
      spec: { ...spec, cmdline: [{ key: 'console', value: 'hvc0' }, { key: 'tsc_early_khz', value: '1000000' }], workDisk: false } as unknown as LaunchSpec,
      kernelPath: plan.kernelPath,
      initrdPath: plan.initrdPath,
      fds: { overlay: 3, base: 4 },
    };
    const argv = buildQemuArgv(minimal, { qemuPath: 'q', accel: 'tcg', tscKhz: 5, daemonize: true });
    expect(argv[argv.indexOf('-append') + 1]).toBe('console=hvc0 tsc_early_khz=1000000');
    expect(argv).not.toContain('-netdev');
    expect(argv.filter((a) => a === 'virtio-blk-device,drive=work')).toHaveLength(0);
  });

  it('refuses a work disk that was asked for but not opened, and a comma in a path', () => {
    expect(() => buildQemuArgv({ ...plan, fds: { overlay: 3, base: 4 } }, { qemuPath: 'q', accel: 'tcg', tscKhz: null, daemonize: true })).toThrow(
      expect.objectContaining({ kind: 'INVALID_ARGUMENT' }),
    );
    expect(() => buildQemuArgv({ ...plan, kernelPath: '/var/lib/banger/a,b' }, { qemuPath: 'q', accel: 'tcg', tscKhz: null, daemonize: true })).toThrow(
      expect.objectContaining({ kind: 'INVALID_ARGUMENT' }),
    );
  });

  it('prefixes ip netns exec only when a netns is given', () => {
    expect(netnsPrefix(plan)).toEqual([]);
    expect(netnsPrefix({ ...plan, net: { tap: 't', mac: '52:54:00:00:00:01', netns: 'banger-test-1' } }, '/usr/sbin/ip')).toEqual(['/usr/sbin/ip', 'netns', 'exec', 'banger-test-1']);
  });
});

describe('isOurQemu', () => {
  const argv = buildQemuArgv(plan, { qemuPath: '/usr/bin/qemu-system-x86_64', accel: 'tcg', tscKhz: 1, daemonize: true });
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
