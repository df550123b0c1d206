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

/** `-name` value; rediscovery matches it in /proc/<pid>/cmdline to tell our VM from a reused pid. */
export function qemuProcessName(vmId: string): string {
  return `banger-${vmId}`;
}

/**
 * The complete QEMU command for a validated spec: microvm, virtio-mmio devices, console to a
 * file, QMP and the guest agent on Unix sockets in the VM's run dir. Pure, so tests pin it.
 * Values come only from the validated spec; commas cannot appear in them (confined paths are
 * still checked here because QEMU's option parser would split on them).
 */
export function buildQemuArgv(spec: LaunchSpec, opts: QemuArgvOptions): string[] {
  const argv: string[] = [opts.qemuPath];
  argv.push('-name', `${qemuProcessName(spec.vmId)},debug-threads=off`);
  argv.push('-M', 'microvm');
  if (opts.accel === 'kvm') argv.push('-accel', 'kvm', '-cpu', 'host');
  else argv.push('-accel', 'tcg,tb-size=64', '-cpu', 'max');
  argv.push('-m', String(spec.memoryMib), '-smp', String(spec.vcpus));
  argv.push('-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot');
  argv.push('-kernel', noComma(spec.kernelPath));
  if (spec.initrdPath !== undefined) argv.push('-initrd', noComma(spec.initrdPath));
  argv.push('-append', renderCmdline(withDefaults(spec.cmdline, opts)));
  argv.push('-drive', `id=root,file=${noComma(spec.rootDisk.path)},format=${spec.rootDisk.format},if=none`);
  argv.push('-device', 'virtio-blk-device,drive=root');
  if (spec.workDisk !== undefined) {
    argv.push('-drive', `id=work,file=${noComma(spec.workDisk.path)},format=${spec.workDisk.format},if=none`);
    argv.push('-device', 'virtio-blk-device,drive=work');
  }
  if (spec.net !== undefined) {
    argv.push('-netdev', `tap,id=n0,ifname=${spec.net.tap},script=no,downscript=no`);
    argv.push('-device', `virtio-net-device,netdev=n0,mac=${spec.net.mac}`);
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
export function netnsPrefix(spec: LaunchSpec, ipPath = 'ip'): string[] {
  return spec.net?.netns === undefined ? [] : [ipPath, 'netns', 'exec', spec.net.netns];
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
