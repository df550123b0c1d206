import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Accel, Hypervisor, StopOutcome, VmDescription, VmHandle, VmRunState } from '../../domain/hypervisor/driver.js';
import { vmRunPaths } from '../../domain/hypervisor/rundir.js';
import { VmHostError } from '../../domain/vmspec/errors.js';
import type { LaunchInput } from '../../domain/hypervisor/driver.js';
import type { LaunchSpec } from '../../domain/vmspec/spec.js';
import { VM_ID_RE, validateVmId } from '../../domain/vmspec/spec.js';
import { placeInCgroup, removeCgroup } from '../proc/cgroup.js';
import { readCmdline, readPidFile, waitForPidExit } from '../proc/pids.js';
import { buildQemuArgv, netnsPrefix, qemuProcessName, type LaunchPlan } from './argv.js';
import { QmpClient } from './qmp.js';

export interface QemuDriverConfig {
  readonly qemuPath: string;
  readonly accel: Accel;
  readonly tscKhz: number | null;
  /** privhelper's VM run directories (root-owned); specs are validated against the same. */
  readonly runVmsDir: string;
  /** cgroup v2 mount to place VMs under, or null to skip. */
  readonly cgroupRoot: string | null;
  readonly ipPath?: string;
  /**
   * Gid of vmd's group (config privhelper.client_group). VM run dirs become root:<gid> 0750,
   * the agent socket 0660 and the console log 0640, so vmd (not root) can talk to the guest
   * agent and read the console; QMP, pid file and launch record stay root's. Undefined: root only.
   */
  readonly clientGid?: number | undefined;
  /** After QMP `quit` (or a kill), how long to wait for the process to go. */
  readonly escalationWaitMs?: number;
}

interface LaunchRecord {
  readonly vmId: string;
  readonly accel: Accel;
  readonly argv: readonly string[];
  readonly spec: LaunchSpec;
  /** The image the root overlay was based on at launch (from privhelper's disk record). */
  readonly baseImage?: string;
  readonly launchedAt: string;
  readonly cgroup: string | null;
}

/**
 * QEMU microvm driver. QEMU is started with `-daemonize`, so it detaches into its own session
 * and survives the helper and vmd; the launch call returns once QEMU has created its sockets
 * and written its pid file. All later verbs find the process again from the run dir, so a new
 * driver instance (after a helper restart) controls VMs an old one started.
 */
export class QemuDriver implements Hypervisor {
  readonly kind = 'qemu' as const;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly cfg: QemuDriverConfig,
    private readonly log: Logger,
  ) {}

  launch(input: LaunchInput): Promise<VmHandle> {
    return this.serialised(input.spec.vmId, () => this.launchLocked(input));
  }

  stopGraceful(vmId: string, timeoutMs: number): Promise<StopOutcome> {
    checkTimeout(timeoutMs);
    return this.serialised(vmId, () => this.stopLocked(vmId, timeoutMs));
  }

  kill(vmId: string): Promise<StopOutcome> {
    return this.serialised(vmId, () => this.killLocked(vmId));
  }

  remove(vmId: string): Promise<{ removed: boolean }> {
    return this.serialised(vmId, () => this.removeLocked(vmId));
  }

  private async launchLocked(input: LaunchInput): Promise<VmHandle> {
    const { spec, disks } = input;
    if (path.resolve(spec.run.dir) !== path.resolve(vmRunPaths(this.cfg.runVmsDir, spec.vmId).dir)) {
      throw new VmHostError('INVALID_ARGUMENT', 'PATH_ESCAPE', 'spec was validated against another run root', { field: 'run_root' });
    }
    // Child fds 3, 4 (and 5): the order of `extra` below.
    const plan: LaunchPlan = {
      spec,
      kernelPath: input.kernelPath,
      initrdPath: input.initrdPath,
      fds: { overlay: 3, base: 4, ...(disks.work ? { work: 5 } : {}) },
      ...(input.net ? { net: input.net } : {}),
    };
    const extra = [disks.overlay.fd, disks.base.fd, ...(disks.work ? [disks.work.fd] : [])];
    const argv = [...netnsPrefix(plan, this.cfg.ipPath), ...buildQemuArgv(plan, { ...this.cfg, daemonize: true })];
    const running = await this.find(spec.vmId);
    if (running !== undefined) {
      const record = await readRecord(spec.run.launchJson);
      if (record !== undefined && JSON.stringify(record.spec) !== JSON.stringify(spec)) {
        throw new VmHostError('ALREADY_EXISTS', 'VM_RUNNING_WITH_OTHER_SPEC', `vm ${spec.vmId} is already running with a different spec`, {
          vm_id: spec.vmId,
        });
      }
      return { ...running, alreadyRunning: true };
    }
    await this.prepareRunDir(spec.vmId);
    const started = Date.now();
    const [file, ...args] = argv as [string, ...string[]];
    const { code, stderr } = await runDaemonizing(file, args, extra);
    await writeFile(spec.run.qemuLog, stderr, { mode: 0o600 });
    if (code !== 0) {
      this.log.warn({ vm_id: spec.vmId, code, stderr: stderr.slice(-1000) }, 'qemu launch failed');
      throw new VmHostError('INTERNAL', 'QEMU_LAUNCH_FAILED', `qemu exited ${code}: ${lastLine(stderr)}`, { vm_id: spec.vmId });
    }
    const handle = await this.find(spec.vmId);
    if (handle === undefined) {
      throw new VmHostError('INTERNAL', 'QEMU_LAUNCH_FAILED', 'qemu daemonized but its process is gone; see qemu.log/console.log', { vm_id: spec.vmId });
    }
    await this.shareWithClients(spec.run.agentSocket, 0o660);
    await this.shareWithClients(spec.run.consoleLog, 0o640);
    const cg = await placeInCgroup(this.cfg.cgroupRoot, spec.vmId, handle.pid);
    const record: LaunchRecord = { vmId: spec.vmId, accel: this.cfg.accel, argv, spec, baseImage: disks.baseImage, launchedAt: new Date().toISOString(), cgroup: cg.path };
    await writeFile(spec.run.launchJson, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    this.log.info(
      { vm_id: spec.vmId, pid: handle.pid, accel: this.cfg.accel, cgroup: cg.path, cgroup_reason: cg.reason, duration_ms: Date.now() - started },
      'vm launched',
    );
    return handle;
  }

  /** Guest memory of every running VM this driver knows (from its launch records), for the host quota. */
  async runningMemoryMib(): Promise<number> {
    let total = 0;
    for (const id of await readdir(this.cfg.runVmsDir).catch(() => [] as string[])) {
      if (!VM_ID_RE.test(id) || (await this.find(id)) === undefined) continue;
      const rec = await readRecord(vmRunPaths(this.cfg.runVmsDir, id).launchJson);
      total += rec?.spec.memoryMib ?? 0;
    }
    return total;
  }

  /** Kernels that running VMs booted, so the store does not delete one under them. */
  async runningKernels(): Promise<{ name: string; version: string }[]> {
    const out: { name: string; version: string }[] = [];
    for (const id of await readdir(this.cfg.runVmsDir).catch(() => [] as string[])) {
      if (!VM_ID_RE.test(id) || (await this.find(id)) === undefined) continue;
      const rec = await readRecord(vmRunPaths(this.cfg.runVmsDir, id).launchJson);
      if (rec?.spec.kernel) out.push(rec.spec.kernel);
    }
    return out;
  }

  async find(vmId: string): Promise<VmHandle | undefined> {
    const run = vmRunPaths(this.cfg.runVmsDir, validateVmId(vmId));
    const pid = await readPidFile(run.pidFile);
    if (pid === undefined) return undefined;
    const cmd = await readCmdline(pid);
    if (cmd === undefined || !isOurQemu(cmd, vmId, run.pidFile)) return undefined;
    const accelArg = cmd[cmd.indexOf('-accel') + 1] ?? '';
    return { vmId, pid, runDir: run.dir, accel: accelArg.startsWith('kvm') ? 'kvm' : 'tcg' };
  }

  private async stopLocked(vmId: string, timeoutMs: number): Promise<StopOutcome> {
    const h = await this.find(vmId);
    if (h === undefined) return 'not_running';
    const started = Date.now();
    const run = vmRunPaths(this.cfg.runVmsDir, vmId);
    let qmp: QmpClient | undefined;
    try {
      qmp = await QmpClient.connect(run.qmpSocket, Math.min(timeoutMs, 5000));
      await qmp.sendCtrlAltDelete();
      if (await waitForPidExit(h.pid, Math.max(0, timeoutMs - (Date.now() - started)))) {
        return this.stopped(vmId, 'graceful', started);
      }
      this.log.info({ vm_id: vmId, timeout_ms: timeoutMs }, 'guest ignored ctrl-alt-delete, sending quit');
      await qmp.quit();
      if (await waitForPidExit(h.pid, this.cfg.escalationWaitMs ?? 5000)) return this.stopped(vmId, 'quit', started);
    } catch (err) {
      this.log.warn({ vm_id: vmId, err }, 'qmp stop failed, killing');
    } finally {
      qmp?.close();
    }
    return this.killLocked(vmId);
  }

  private async killLocked(vmId: string): Promise<StopOutcome> {
    const h = await this.find(vmId);
    if (h === undefined) return 'not_running';
    const started = Date.now();
    try {
      process.kill(h.pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    if (!(await waitForPidExit(h.pid, this.cfg.escalationWaitMs ?? 5000))) {
      throw new VmHostError('INTERNAL', 'KILL_FAILED', `qemu pid ${h.pid} survived SIGKILL`, { vm_id: vmId });
    }
    return this.stopped(vmId, 'killed', started);
  }

  async wait(vmId: string, timeoutMs: number): Promise<void> {
    checkTimeout(timeoutMs);
    const h = await this.find(vmId);
    if (h === undefined) return;
    if (!(await waitForPidExit(h.pid, timeoutMs))) {
      throw new VmHostError('DEADLINE_EXCEEDED', 'VM_STILL_RUNNING', `vm ${vmId} still running after ${timeoutMs} ms`, { vm_id: vmId });
    }
  }

  async describe(vmId: string): Promise<VmDescription> {
    const run = vmRunPaths(this.cfg.runVmsDir, validateVmId(vmId));
    const record = await readRecord(run.launchJson);
    const h = await this.find(vmId);
    let state: VmRunState = 'not_running';
    if (h !== undefined) {
      state = 'unknown';
      const qmp = await QmpClient.connect(run.qmpSocket, 2000).catch(() => undefined);
      if (qmp !== undefined) {
        const st = await qmp.queryStatus().catch(() => undefined);
        qmp.close();
        if (st !== undefined) state = st.status === 'running' ? 'running' : st.status === 'paused' ? 'paused' : st.status === 'shutdown' ? 'shutdown' : 'unknown';
      }
    }
    return { vmId, state, pid: h?.pid ?? null, runDir: run.dir, accel: h?.accel ?? record?.accel ?? null, argv: record?.argv ?? null };
  }

  private async removeLocked(vmId: string): Promise<{ removed: boolean }> {
    if ((await this.find(vmId)) !== undefined) {
      throw new VmHostError('FAILED_PRECONDITION', 'VM_RUNNING', 'stop the VM before removing its run directory', { vm_id: vmId });
    }
    const dir = vmRunPaths(this.cfg.runVmsDir, validateVmId(vmId)).dir;
    await removeCgroup(this.cfg.cgroupRoot, vmId);
    const existed = await readFile(path.join(dir, 'launch.json')).then(() => true, () => false);
    await rm(dir, { recursive: true, force: true });
    return { removed: existed };
  }

  /** One verb at a time per VM inside this helper: a retried launch racing the first must not start a second QEMU. */
  private async serialised<T>(vmId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(vmId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(vmId, tail);
    try {
      return await next;
    } finally {
      if (this.locks.get(vmId) === tail) this.locks.delete(vmId);
    }
  }

  /** Hands a run file or dir to the client group (see QemuDriverConfig.clientGid). */
  private async shareWithClients(file: string, mode: number): Promise<void> {
    if (this.cfg.clientGid === undefined) return;
    await chown(file, 0, this.cfg.clientGid);
    await chmod(file, mode);
  }

  /**
   * The run dir lives in privhelper's root-only run root, so nothing in it was put there by
   * another uid; leftovers of an earlier run are removed, never reused.
   */
  private async prepareRunDir(vmId: string): Promise<void> {
    const run = vmRunPaths(this.cfg.runVmsDir, vmId);
    await mkdir(run.dir, { recursive: true, mode: 0o700 });
    await this.shareWithClients(run.dir, 0o750);
    for (const stale of [run.qmpSocket, run.agentSocket, run.pidFile, run.consoleLog, run.qemuLog, run.launchJson]) await rm(stale, { force: true });
  }

  private async stopped(vmId: string, outcome: StopOutcome, started: number): Promise<StopOutcome> {
    await removeCgroup(this.cfg.cgroupRoot, vmId);
    this.log.info({ vm_id: vmId, outcome, duration_ms: Date.now() - started }, 'vm stopped');
    return outcome;
  }
}

/** Our QEMU for this VM: a qemu-system binary, `-name banger-<id>,...`, and this run dir's pid file. */
export function isOurQemu(cmd: readonly string[], vmId: string, pidFile: string): boolean {
  const exe = path.basename(cmd[0] ?? '');
  if (!exe.startsWith('qemu-system-')) return false;
  const name = cmd[cmd.indexOf('-name') + 1];
  const pidArg = cmd[cmd.indexOf('-pidfile') + 1];
  return cmd.includes('-name') && name !== undefined && name.split(',')[0] === qemuProcessName(vmId) && pidArg === pidFile;
}

/** Runs QEMU with -daemonize: the foreground process exits once the VM is set up (or failed). */
function runDaemonizing(file: string, args: readonly string[], extraFds: readonly number[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, [...args], { stdio: ['ignore', 'ignore', 'pipe', ...extraFds], detached: true });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-16_000)));
    child.once('error', (err) => resolve({ code: -1, stderr: `${err.message}\n` }));
    child.once('close', (code, signal) => resolve({ code: code ?? (signal === null ? -1 : 128), stderr }));
  });
}

async function readRecord(file: string): Promise<LaunchRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LaunchRecord;
  } catch {
    return undefined;
  }
}

/** Up to ten minutes: a longer wait belongs to the caller's retry loop, not one helper call. */
function checkTimeout(timeoutMs: number): void {
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 600_000) {
    throw new VmHostError('INVALID_ARGUMENT', 'OUT_OF_RANGE', 'timeout_ms must be an integer within 0..600000', { field: 'timeout_ms' });
  }
}

function lastLine(s: string): string {
  return (s.trim().split('\n').pop() ?? '').slice(0, 300);
}
