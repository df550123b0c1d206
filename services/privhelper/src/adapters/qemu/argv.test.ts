import { describe, expect, it } from 'vitest';
import { vmRunPaths } from '../../domain/hypervisor/rundir.js';
import type { LaunchSpec } from '../../domain/vmspec/spec.js';
import { buildQemuArgv, JAIL_INITRD, JAIL_KERNEL, SANDBOX } from './argv.js';
import { isOurQemu } from './launch-record.js';

// Built by hand (as validateLaunchSpec would) so the expected argv is spelled out in full.
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

const jailed = { qemuPath: '/usr/bin/qemu-system-x86_64', accel: 'tcg' as const, tscKhz: 2596132, sandbox: true, kernel: JAIL_KERNEL, initrd: JAIL_INITRD };

describe('buildQemuArgv', () => {
  it('builds the jailed TCG microvm command line: everything by descriptor, the kernel at its jail path, QEMU sandboxed', () => {
    expect(buildQemuArgv(spec, true, jailed)).toEqual([
      '/usr/bin/qemu-system-x86_64',
      '-name', 'banger-dev-1,debug-threads=off',
      '-M', 'microvm',
      '-accel', 'tcg,tb-size=64', '-cpu', 'max',
      '-m', '512', '-smp', '2',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
      '-kernel', '/boot/vmlinux',
      '-initrd', '/boot/initrd.img',
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
      '-netdev', 'tap,id=n0,fd=8',
      '-device', 'virtio-net-device,netdev=n0,mac=52:54:00:ab:cd:01',
      '-device', 'virtio-serial-device',
      '-chardev', 'socket,id=agent0,fd=7,server=on,wait=off',
      '-device', 'virtserialport,chardev=agent0,name=org.qemu.guest_agent.0',
      '-device', 'i8042',
      '-serial', 'stdio',
      '-chardev', 'socket,id=qmp0,fd=6,server=on,wait=off',
      '-mon', 'chardev=qmp0,mode=control',
    ]);
  });

  it('puts guest RAM on the jailed memfd only when asked: shared for a template source, private (copy-on-write) for a clone', () => {
    const plain = buildQemuArgv(spec, true, jailed);
    expect(plain).not.toContain('-object');
    expect(plain[plain.indexOf('-M') + 1]).toBe('microvm');
    for (const [ram, share] of [['shared', 'on'], ['private', 'off']] as const) {
      const argv = buildQemuArgv(spec, true, { ...jailed, ram });
      expect(argv[argv.indexOf('-M') + 1]).toBe('microvm,memory-backend=ram0');
      expect(argv[argv.indexOf('-object') + 1]).toBe(`memory-backend-file,id=ram0,size=512M,mem-path=/proc/self/fd/9,share=${share}`);
      expect(argv[argv.indexOf('-m') + 1]).toBe('512');
      expect(argv.filter((a) => !plain.includes(a))).toEqual(['microvm,memory-backend=ram0', '-object', argv[argv.indexOf('-object') + 1]]);
    }
  });

  it('names no host file at all: no -drive, no socket path, no pid file, no -daemonize', () => {
    const argv = buildQemuArgv(spec, true, jailed);
    for (const flag of ['-drive', '-qmp', '-pidfile', '-daemonize', '-runas', '-chroot']) expect(argv).not.toContain(flag);
    for (const a of argv) expect(a).not.toMatch(/\/run\/banger|\/var\/lib\/banger/);
    expect(argv[argv.indexOf('-sandbox') + 1]).toBe(SANDBOX);
  });

  it('starts paused waiting for a saved state only for a restore (-incoming defer, the stream then comes by getfd)', () => {
    expect(buildQemuArgv(spec, true, jailed)).not.toContain('-incoming');
    const argv = buildQemuArgv(spec, true, { ...jailed, incoming: true });
    expect(argv.slice(-2)).toEqual(['-incoming', 'defer']);
  });

  it('uses -accel kvm -cpu host and no tsc_early_khz under KVM; no -sandbox only when told', () => {
    const argv = buildQemuArgv(spec, true, { ...jailed, accel: 'kvm', sandbox: false });
    expect(argv.slice(argv.indexOf('-accel'), argv.indexOf('-accel') + 4)).toEqual(['-accel', 'kvm', '-cpu', 'host']);
    expect(argv[argv.indexOf('-append') + 1]).not.toContain('tsc_early_khz');
    expect(argv).not.toContain('-sandbox');
  });

  it('keeps a caller-supplied console and tsc_early_khz, and omits absent optional devices', () => {
    const minimal = { ...spec, cmdline: [{ key: 'console', value: 'hvc0' }, { key: 'tsc_early_khz', value: '1000000' }], workDisk: false } as unknown as LaunchSpec;
    const argv = buildQemuArgv(minimal, false, { ...jailed, tscKhz: 5 });
    expect(argv[argv.indexOf('-append') + 1]).toBe('console=hvc0 tsc_early_khz=1000000');
    expect(argv).not.toContain('-netdev');
    expect(argv.filter((a) => a === 'virtio-blk-device,drive=work')).toHaveLength(0);
  });

  it('refuses a comma in a kernel path as a last line of defence', () => {
    expect(() => buildQemuArgv(spec, true, { ...jailed, kernel: '/var/lib/banger/a,b' })).toThrow(expect.objectContaining({ kind: 'INVALID_ARGUMENT' }));
  });
});

describe('isOurQemu', () => {
  const argv = buildQemuArgv(spec, true, jailed);
  it('recognises the VM from its own command line', () => {
    expect(isOurQemu(argv, 'dev-1')).toBe(true);
  });
  it('rejects another VM or another binary', () => {
    expect(isOurQemu(argv, 'dev-2')).toBe(false);
    expect(isOurQemu(argv, 'dev')).toBe(false);
    expect(isOurQemu(['/usr/bin/sleep', '-name', 'banger-dev-1'], 'dev-1')).toBe(false);
    expect(isOurQemu(['/usr/bin/qemu-system-x86_64', '-m', '1'], 'dev-1')).toBe(false);
  });
});
