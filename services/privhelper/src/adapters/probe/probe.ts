import { constants as fsc } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { resolveTool, run, spawnProcess, type ProcessHandle } from '@banger/proc';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Accel, HostCapabilities } from '../../domain/hypervisor/driver.js';

export type AccelSetting = 'auto' | 'kvm' | 'tcg';

export interface ProbeOptions {
  readonly accel?: AccelSetting;
  readonly qemuPath?: string;
  /** Also start QEMU with `-accel kvm -cpu host` for a moment: catches PVM-style KVM that the flags miss. */
  readonly kvmBootProbe?: boolean;
  /** Overrides the guest's tsc_early_khz (else read from the host). */
  readonly tscKhz?: number;
  /** Test seam: read files from another root instead of `/`. */
  readonly fsRoot?: string;
}

/** Facts the accel decision is made from; pure input to {@link chooseAccel}. */
export interface KvmFacts {
  readonly deviceNode: boolean;
  readonly cpuFlag: 'vmx' | 'svm' | null;
  readonly modules: readonly string[];
  readonly bootProbe?: { readonly ok: boolean; readonly detail: string };
}

/**
 * Decides KVM vs TCG by capability, not by the presence of /dev/kvm: hardware KVM needs the
 * vmx/svm CPU flag and kvm_intel/kvm_amd; kvm_pvm (paravirtual KVM inside a VM) fails real
 * guests, so it means TCG.
 */
export function chooseAccel(setting: AccelSetting, f: KvmFacts): { accel: Accel; usable: boolean; reason: string } {
  const problems: string[] = [];
  if (!f.deviceNode) problems.push('/dev/kvm is missing or not read-write');
  if (f.cpuFlag === null) problems.push('CPU has no vmx/svm flag (no hardware virtualisation exposed)');
  if (f.modules.includes('kvm_pvm')) problems.push('KVM is kvm_pvm (paravirtual), which cannot run stock guests');
  if (!f.modules.includes('kvm_intel') && !f.modules.includes('kvm_amd')) problems.push('neither kvm_intel nor kvm_amd is loaded');
  if (f.bootProbe !== undefined && !f.bootProbe.ok) problems.push(`KVM boot probe failed: ${f.bootProbe.detail}`);
  const usable = problems.length === 0;
  if (setting === 'kvm') return { accel: 'kvm', usable, reason: usable ? 'accel=kvm configured' : `accel=kvm forced by config although ${problems.join('; ')}` };
  if (setting === 'tcg') return { accel: 'tcg', usable, reason: 'accel=tcg configured' };
  if (usable) return { accel: 'kvm', usable, reason: `hardware KVM (${f.cpuFlag ?? '?'}, ${f.modules.join(',')})${f.bootProbe ? ', boot probe ok' : ''}` };
  return { accel: 'tcg', usable, reason: `TCG: ${problems.join('; ')}` };
}

/** Parses the host TSC rate for the guest's tsc_early_khz (TCG guests see the host TSC). */
export function tscKhzFromCpuinfo(cpuinfo: string): number | null {
  const m = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(cpuinfo);
  if (m?.[1] === undefined) return null;
  const khz = Math.round(Number.parseFloat(m[1]) * 1000);
  return Number.isFinite(khz) && khz > 0 ? khz : null;
}

export function cpuFlagFromCpuinfo(cpuinfo: string): 'vmx' | 'svm' | null {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  return flags.has('vmx') ? 'vmx' : flags.has('svm') ? 'svm' : null;
}

/** Probes the host once (at helper start) so launches and `banger doctor` agree on the choice. */
export async function probeHost(opts: ProbeOptions = {}): Promise<HostCapabilities> {
  const root = opts.fsRoot ?? '/';
  const p = (x: string): string => path.join(root, x);
  const cpuinfo = await readFile(p('proc/cpuinfo'), 'utf8').catch(() => '');
  const modules = await loadedModules(root);
  const deviceNode = await access(p('dev/kvm'), fsc.R_OK | fsc.W_OK).then(() => true, () => false);
  // A configured binary that is missing or not executable counts as no QEMU, so doctor fails
  // the check with its fix instead of trusting the config.
  const qemuPath = await which(opts.qemuPath ?? 'qemu-system-x86_64');
  const qemuImgPath = await which('qemu-img');
  let qemuVersion: string | null = null;
  if (qemuPath !== null) {
    const out = await run(qemuPath, ['--version'], { timeoutMs: 10_000 }).catch(() => undefined);
    qemuVersion = /version (\S+)/.exec(out?.stdout ?? '')?.[1] ?? null;
  }
  let facts: KvmFacts = { deviceNode, cpuFlag: cpuFlagFromCpuinfo(cpuinfo), modules };
  if (opts.kvmBootProbe === true && qemuPath !== null && deviceNode) facts = { ...facts, bootProbe: await kvmBootProbe(qemuPath) };
  const choice = chooseAccel(opts.accel ?? 'auto', facts);
  const exists = (x: string): Promise<boolean> => stat(p(x)).then(() => true, () => false);
  const cgroupV2 = await exists('sys/fs/cgroup/cgroup.controllers');
  return {
    accel: choice.accel,
    reason: choice.reason,
    kvm: { usable: choice.usable, deviceNode, cpuFlag: facts.cpuFlag, modules },
    qemuPath,
    qemuVersion,
    qemuImgPath,
    tscKhz: opts.tscKhz ?? tscKhzFromCpuinfo(cpuinfo),
    tun: await exists('dev/net/tun'),
    bridge: (await exists('sys/module/bridge')) || (await exists('sys/class/net/bridge')),
    nft: (await which('nft')) !== null,
    vhostVsock: await exists('dev/vhost-vsock'),
    cgroupV2,
  };
}

/** kvm-related modules from /sys/module (present even where /proc/modules is not), else /proc/modules. */
async function loadedModules(root: string): Promise<string[]> {
  const wanted = ['kvm', 'kvm_intel', 'kvm_amd', 'kvm_pvm'];
  const fromSys = await readdir(path.join(root, 'sys/module')).catch(() => [] as string[]);
  if (fromSys.length > 0) return wanted.filter((m) => fromSys.includes(m));
  const procModules = await readFile(path.join(root, 'proc/modules'), 'utf8').catch(() => '');
  const names = new Set(procModules.split('\n').map((l) => l.split(' ')[0]));
  return wanted.filter((m) => names.has(m));
}

/**
 * Starts a paused microvm with `-accel kvm -cpu host`: PVM and other broken KVM abort within
 * milliseconds (e.g. "failed to set MSR 0x10a"); a process still alive after 1.5 s means KVM
 * initialised vCPUs. The probe process (its own group) is always killed.
 */
async function kvmBootProbe(qemuPath: string): Promise<{ ok: boolean; detail: string }> {
  const args = ['-M', 'microvm', '-accel', 'kvm', '-cpu', 'host', '-m', '64', '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none', '-S'];
  let child: ProcessHandle;
  try {
    child = await spawnProcess(qemuPath, args, { maxStderr: 2000 });
  } catch (err) {
    return { ok: false, detail: `qemu did not start: ${(err as Error).message}` };
  }
  const ended = await Promise.race([child.exited, sleep(1500).then(() => null)]);
  if (ended === null) {
    child.kill('SIGKILL');
    await child.exited;
    return { ok: true, detail: 'vCPU initialised' };
  }
  const stderr = child.stderrTail();
  const line = stderr.split('\n').find((l) => l.includes('error')) ?? stderr.trim().split('\n')[0] ?? '';
  return { ok: false, detail: `qemu ended (${ended.signal ?? String(ended.code)}): ${line.slice(0, 200)}` };
}

/** Where the runner would find BIN (the pinned PATH), so doctor and launches see the same binary. */
function which(bin: string): Promise<string | null> {
  return resolveTool(bin).catch(() => null);
}
