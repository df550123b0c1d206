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
  /** Ask QEMU to fork into the background once its sockets exist. */
  readonly daemonize: boolean;
}

/**
 * What privhelper resolved for a validated spec: kernel files from its own store, and the fd
 * numbers (in QEMU's fd table) of the disks it opened. QEMU never opens a disk by name: each
 * disk is an `-add-fd` set, and the root overlay's backing is pinned to the base's node, so
 * the backing file name in the qcow2 header is never looked at.
 */
export interface LaunchPlan {
  readonly spec: LaunchSpec;
  readonly kernelPath: string;
  readonly initrdPath: string;
  /** Child fd numbers: overlay (rw), its base image's rootfs (ro), work disk (rw). */
  readonly fds: { readonly overlay: number; readonly base: number; readonly work?: number };
  readonly net?: { readonly tap: string; readonly mac: string; readonly netns?: string };
}

const SET = { overlay: 1, base: 2, work: 3 } as const;

/** `-name` value; rediscovery matches it in /proc/<pid>/cmdline to tell our VM from a reused pid. */
export function qemuProcessName(vmId: string): string {
  return `banger-${vmId}`;
}

/**
 * The complete QEMU command for a launch plan: microvm, virtio-mmio devices, fd-backed
 * `-blockdev` disks with an explicit chain and pinned formats, console to a file, QMP and the
 * guest agent on Unix sockets in the VM's run dir. Pure, so tests pin it. Values come only
 * from the validated spec and privhelper's own paths; commas cannot appear in them.
 */
export function buildQemuArgv(plan: LaunchPlan, opts: QemuArgvOptions): string[] {
  const { spec } = plan;
  const argv: string[] = [opts.qemuPath];
  argv.push('-name', `${qemuProcessName(spec.vmId)},debug-threads=off`);
  argv.push('-M', 'microvm');
  if (opts.accel === 'kvm') argv.push('-accel', 'kvm', '-cpu', 'host');
  else argv.push('-accel', 'tcg,tb-size=64', '-cpu', 'max');
  argv.push('-m', String(spec.memoryMib), '-smp', String(spec.vcpus));
  argv.push('-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot');
  argv.push('-kernel', noComma(plan.kernelPath));
  argv.push('-initrd', noComma(plan.initrdPath));
  argv.push('-append', renderCmdline(withDefaults(spec.cmdline, opts)));
  argv.push('-add-fd', `fd=${plan.fds.overlay},set=${SET.overlay},opaque=root-overlay`);
  argv.push('-add-fd', `fd=${plan.fds.base},set=${SET.base},opaque=root-base`);
  argv.push('-blockdev', `driver=file,node-name=root-base-file,filename=/dev/fdset/${SET.base},read-only=on`);
  argv.push('-blockdev', 'driver=raw,node-name=root-base,file=root-base-file,read-only=on');
  argv.push('-blockdev', `driver=file,node-name=root-file,filename=/dev/fdset/${SET.overlay}`);
  argv.push('-blockdev', 'driver=qcow2,node-name=root,file=root-file,backing=root-base');
  argv.push('-device', 'virtio-blk-device,drive=root');
  if (spec.workDisk) {
    if (plan.fds.work === undefined) throw invalid('work_disk', 'BAD_FIELD', 'work disk requested but not opened');
    argv.push('-add-fd', `fd=${plan.fds.work},set=${SET.work},opaque=work`);
    argv.push('-blockdev', `driver=file,node-name=work-file,filename=/dev/fdset/${SET.work}`);
    argv.push('-blockdev', 'driver=raw,node-name=work,file=work-file');
    argv.push('-device', 'virtio-blk-device,drive=work');
  }
  if (plan.net !== undefined) {
    argv.push('-netdev', `tap,id=n0,ifname=${plan.net.tap},script=no,downscript=no`);
    argv.push('-device', `virtio-net-device,netdev=n0,mac=${plan.net.mac}`);
  }
  argv.push('-device', 'virtio-serial-device');
  argv.push('-chardev', `socket,id=agent0,path=${noComma(spec.run.agentSocket)},server=on,wait=off`);
  argv.push('-device', 'virtserialport,chardev=agent0,name=org.qemu.guest_agent.0');
  argv.push('-device', 'i8042');
  argv.push('-serial', `file:${noComma(spec.run.consoleLog)}`);
  argv.push('-qmp', `unix:${noComma(spec.run.qmpSocket)},server=on,wait=off`);
  argv.push('-pidfile', spec.run.pidFile);
  if (opts.daemonize) argv.push('-daemonize');
  return argv;
}

/** Prefix that runs QEMU inside a named network namespace; `ip netns exec` execs, so the pid stays QEMU's. */
export function netnsPrefix(plan: LaunchPlan, ipPath = 'ip'): string[] {
  return plan.net?.netns === undefined ? [] : [ipPath, 'netns', 'exec', plan.net.netns];
}

function withDefaults(args: readonly CmdlineArg[], opts: QemuArgvOptions): CmdlineArg[] {
  const out = [...args];
  const has = (k: string): boolean => out.some((a) => a.key === k);
  if (!has('console')) out.unshift({ key: 'console', value: 'ttyS0' });
  if (opts.accel === 'tcg' && opts.tscKhz !== null && !has('tsc_early_khz')) out.push({ key: 'tsc_early_khz', value: String(opts.tscKhz) });
  return out;
}

function noComma(p: string): string {
  if (p.includes(',')) throw invalid('path', 'BAD_FIELD', 'path contains a comma, which QEMU would misparse');
  return p;
}
