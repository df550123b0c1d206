import type { Accel } from '../../domain/hypervisor/driver.js';
import type { CmdlineArg } from '../../domain/vmspec/cmdline.js';
import { renderCmdline } from '../../domain/vmspec/cmdline.js';
import type { LaunchSpec } from '../../domain/vmspec/spec.js';
import { invalid } from '../../domain/vmspec/errors.js';

export interface QemuArgvOptions {
  readonly qemuPath: string;
  readonly accel: Accel;
  /** Host TSC rate; added as tsc_early_khz under TCG, where microvm has no timer to calibrate against. */
  readonly tscKhz: number | null;
  /** QEMU's own seccomp filter (`-sandbox`); off only where the host's QEMU lacks it and the config allows that. */
  readonly sandbox: boolean;
  /** Kernel and initrd as QEMU sees them: their jail paths, or the host's without a mount namespace. */
  readonly kernel: string;
  readonly initrd: string;
  /** Start paused, waiting for a saved state (`-incoming defer`, fed later through an fd). */
  readonly incoming?: boolean;
  /**
   * Guest RAM on the memfd the jailer keeps at FD.ram: `shared` maps it MAP_SHARED (a VM whose
   * RAM snapshots can share), `private` copy-on-write (a clone of a sealed template). Absent:
   * anonymous RAM, as every VM had before.
   */
  readonly ram?: 'shared' | 'private';
}

/**
 * The descriptor numbers QEMU gets from the jailer, fixed so the argv can name them: the disks
 * privhelper opened (3-5), the QMP and agent sockets the jailer made (6, 7), the tap it opened (8).
 */
export const FD = { overlay: 3, base: 4, work: 5, qmp: 6, agent: 7, tap: 8, ram: 9 } as const;

/** How QEMU names its RAM memfd: a memfd cannot be bind-mounted, so the jail's own-uid /proc. */
export const JAIL_RAM_PATH = `/proc/self/fd/${FD.ram}`;

/** Where the jailer mounts a VM's kernel and initrd inside the jail (read-only). */
export const JAIL_KERNEL = '/boot/vmlinux';
export const JAIL_INITRD = '/boot/initrd.img';

/** The seccomp options HOST-FACTS measured to work for a foreground, privilege-dropped QEMU. */
export const SANDBOX = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

const SET = { overlay: 1, base: 2, work: 3 } as const;

/** `-name` value; rediscovery matches it in /proc/<pid>/cmdline to tell our VM from a reused pid. */
export function qemuProcessName(vmId: string): string {
  return `banger-${vmId}`;
}

/**
 * The complete QEMU command for a validated spec, as it runs inside the jail: microvm,
 * virtio-mmio devices, fd-backed `-blockdev` disks with an explicit chain and pinned formats,
 * QMP and the guest agent on sockets passed as descriptors, the tap passed as a descriptor, the
 * serial console on stdout (the jailer's supervisor writes the log), the kernel at its jail
 * path, and QEMU's own seccomp filter. QEMU opens no host file by name and creates none. Pure,
 * so tests pin it.
 */
export function buildQemuArgv(spec: LaunchSpec, net: boolean, opts: QemuArgvOptions): string[] {
  const argv: string[] = [opts.qemuPath];
  argv.push('-name', `${qemuProcessName(spec.vmId)},debug-threads=off`);
  argv.push('-M', opts.ram === undefined ? 'microvm' : 'microvm,memory-backend=ram0');
  if (opts.ram !== undefined) {
    argv.push('-object', `memory-backend-file,id=ram0,size=${spec.memoryMib}M,mem-path=${JAIL_RAM_PATH},share=${opts.ram === 'shared' ? 'on' : 'off'}`);
  }
  if (opts.accel === 'kvm') argv.push('-accel', 'kvm', '-cpu', 'host');
  else argv.push('-accel', 'tcg,tb-size=64', '-cpu', 'max');
  argv.push('-m', String(spec.memoryMib), '-smp', String(spec.vcpus));
  argv.push('-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot');
  if (opts.sandbox) argv.push('-sandbox', SANDBOX);
  argv.push('-kernel', noComma(opts.kernel));
  argv.push('-initrd', noComma(opts.initrd));
  argv.push('-append', renderCmdline(withDefaults(spec.cmdline, opts)));
  argv.push('-add-fd', `fd=${FD.overlay},set=${SET.overlay},opaque=root-overlay`);
  argv.push('-add-fd', `fd=${FD.base},set=${SET.base},opaque=root-base`);
  argv.push('-blockdev', `driver=file,node-name=root-base-file,filename=/dev/fdset/${SET.base},read-only=on`);
  argv.push('-blockdev', 'driver=raw,node-name=root-base,file=root-base-file,read-only=on');
  argv.push('-blockdev', `driver=file,node-name=root-file,filename=/dev/fdset/${SET.overlay}`);
  argv.push('-blockdev', 'driver=qcow2,node-name=root,file=root-file,backing=root-base');
  argv.push('-device', 'virtio-blk-device,drive=root');
  if (spec.workDisk) {
    argv.push('-add-fd', `fd=${FD.work},set=${SET.work},opaque=work`);
    argv.push('-blockdev', `driver=file,node-name=work-file,filename=/dev/fdset/${SET.work}`);
    argv.push('-blockdev', 'driver=raw,node-name=work,file=work-file');
    argv.push('-device', 'virtio-blk-device,drive=work');
  }
  if (net && spec.mac !== undefined) {
    argv.push('-netdev', `tap,id=n0,fd=${FD.tap}`);
    argv.push('-device', `virtio-net-device,netdev=n0,mac=${spec.mac}`);
  }
  argv.push('-device', 'virtio-serial-device');
  argv.push('-chardev', `socket,id=agent0,fd=${FD.agent},server=on,wait=off`);
  argv.push('-device', 'virtserialport,chardev=agent0,name=org.qemu.guest_agent.0');
  argv.push('-device', 'i8042');
  argv.push('-serial', 'stdio');
  argv.push('-chardev', `socket,id=qmp0,fd=${FD.qmp},server=on,wait=off`);
  argv.push('-mon', 'chardev=qmp0,mode=control');
  if (opts.incoming === true) argv.push('-incoming', 'defer');
  return argv;
}

function noComma(p: string): string {
  if (p.includes(',')) throw invalid('path', 'BAD_FIELD', 'path contains a comma, which QEMU would misparse');
  return p;
}

function withDefaults(args: readonly CmdlineArg[], opts: QemuArgvOptions): CmdlineArg[] {
  const out = [...args];
  const has = (k: string): boolean => out.some((a) => a.key === k);
  if (!has('console')) out.unshift({ key: 'console', value: 'ttyS0' });
  if (opts.accel === 'tcg' && opts.tscKhz !== null && !has('tsc_early_khz')) out.push({ key: 'tsc_early_khz', value: String(opts.tscKhz) });
  return out;
}
