import { constants } from 'node:fs';
import { chmod, chown, mkdir, open, readdir, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Accel, ExitView, Hypervisor, JailView, StateOptions, StopOutcome, VmDescription, VmHandle, VmRunState } from '../../domain/hypervisor/driver.js';
import { vmRunPaths, type VmRunPaths } from '../../domain/hypervisor/rundir.js';
import { allocateUid, inJailRange, JAIL_LAYERS, jailerArgs, layerUnavailable, type JailConfig, type JailLayer, type JailPlan } from '../../domain/hypervisor/jail.js';
import { VmHostError } from '../../domain/vmspec/errors.js';
import type { LaunchInput } from '../../domain/hypervisor/driver.js';
import type { LaunchSpec } from '../../domain/vmspec/spec.js';
import { VM_ID_RE, validateVmId } from '../../domain/vmspec/spec.js';
import { spawnProcess } from '@banger/proc';
import { prepareVmCgroups, removeVmCgroups, type CgroupEnv, type VmCgroups } from '../proc/cgroup.js';
import { isAlive, procUid, readCmdline, readPidFile, waitForPidExit } from '../proc/pids.js';
import { buildQemuArgv, FD, JAIL_INITRD, JAIL_KERNEL } from './argv.js';
import { inspectJail } from './jail-inspect.js';
import { firstLine, isOurQemu, lastLine, readExit, readRecord, type JailRecord, type LaunchRecord } from './launch-record.js';
import { QmpClient } from './qmp.js';
import { loadVmState, pauseVcpus, quitVm, resumeVcpus, saveVmState, snapshotVmState } from './vm-state-ops.js';

export interface QemuDriverConfig {
  readonly qemuPath: string;
  readonly accel: Accel;
  readonly tscKhz: number | null;
  /** privhelper's VM run directories (root-owned); specs are validated against the same. */
  readonly runVmsDir: string;
  /** The jailer executable (`@banger/sys` jailerPath()). */
  readonly jailerPath: string;
  readonly jail: JailConfig;
  /** Where cgroups live and who this process is in them (see adapters/proc/cgroup.ts). */
  readonly cgroups: CgroupEnv;
  /**
   * Gid of vmd's group (config privhelper.client_group). VM run dirs become root:<gid> 0750,
   * the agent socket 0660 and the console log 0640, so vmd (not root) can talk to the guest
   * agent and read the console; QMP, pid file and launch record stay root's.
   */
  readonly clientGid: number;
  /** After QMP `quit` (or a kill), how long to wait for the process to go. */
  readonly escalationWaitMs?: number;
  /** How long QEMU has to answer on QMP once executed before the launch counts as failed. */
  readonly startTimeoutMs?: number;
}

/**
 * QEMU microvm driver, each VM jailed (domain/hypervisor/jail.ts). QEMU runs in the foreground
 * under the jailer, a detached root supervisor that outlives privhelper, writes QEMU's pid file
 * and console log and records how it exited. The launch returns once QEMU answers on QMP. All
 * later verbs find the process again from the run dir, so a new driver instance (after a helper
 * restart) controls VMs an old one started.
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

  pause(vmId: string): Promise<boolean> {
    return this.serialised(vmId, async () => pauseVcpus(await this.qmpOfRunning(vmId), vmId));
  }

  resume(vmId: string): Promise<boolean> {
    return this.serialised(vmId, async () => resumeVcpus(await this.qmpOfRunning(vmId), vmId));
  }

  saveAndQuit(vmId: string, fd: number, timeoutMs: number): Promise<void> {
    checkTimeout(timeoutMs);
    return this.serialised(vmId, async () => {
      const started = Date.now();
      const socket = await this.qmpOfRunning(vmId);
      await saveVmState(socket, vmId, fd, timeoutMs);
      const h = await this.find(vmId);
      await quitVm(socket, vmId).catch(() => undefined);
      if (h !== undefined && !(await waitForPidExit(h.pid, this.cfg.escalationWaitMs ?? 5000))) await this.killLocked(vmId);
      else await this.stopped(vmId, 'quit', started);
    });
  }

  saveAndContinue(vmId: string, fd: number, timeoutMs: number, whilePaused: () => Promise<void>, opts: StateOptions = {}): Promise<{ pauseMs: number }> {
    checkTimeout(timeoutMs);
    return this.serialised(vmId, async () => snapshotVmState(await this.qmpOfRunning(vmId), vmId, fd, timeoutMs, whilePaused, opts));
  }

  loadState(vmId: string, fd: number, timeoutMs: number, opts: StateOptions = {}): Promise<void> {
    checkTimeout(timeoutMs);
    return this.serialised(vmId, async () => loadVmState(await this.qmpOfRunning(vmId), vmId, fd, timeoutMs, opts));
  }

  /**
   * Through /proc as root, so nothing but the QEMU has to keep the memfd. A compromised QEMU
   * could put another file at that number; only a regular file of exactly the guest's RAM size
   * is accepted, and what it holds is that VM's own business (it is its own snapshot's RAM).
   */
  async openRam(vmId: string): Promise<FileHandle> {
    const h = await this.find(vmId);
    const rec = h === undefined ? undefined : await readRecord(vmRunPaths(this.cfg.runVmsDir, vmId).launchJson);
    if (h === undefined || rec === undefined) throw new VmHostError('FAILED_PRECONDITION', 'VM_NOT_RUNNING', `vm ${vmId} is not running`, { vm_id: vmId });
    if (rec.spec.sharedRam !== true) throw new VmHostError('FAILED_PRECONDITION', 'NO_SHARED_RAM', `vm ${vmId} was not launched with shared_ram`, { vm_id: vmId });
    const fh = await open(`/proc/${h.pid}/fd/${FD.ram}`, constants.O_RDONLY);
    const st = await fh.stat();
    if (!st.isFile() || st.size !== rec.spec.memoryMib * 1024 * 1024) {
      await fh.close();
      throw new VmHostError('INTERNAL', 'RAM_FILE_UNEXPECTED', `vm ${vmId}: its QEMU holds no RAM file of ${rec.spec.memoryMib} MiB at fd ${FD.ram}`, { vm_id: vmId });
    }
    return fh;
  }

  /** The spec and base image a running VM was launched with (its launch record); undefined when it does not run. */
  async launched(vmId: string): Promise<{ spec: LaunchSpec; baseImage: string; accel: Accel } | undefined> {
    if ((await this.find(vmId)) === undefined) return undefined;
    const rec = await readRecord(vmRunPaths(this.cfg.runVmsDir, vmId).launchJson);
    return rec === undefined ? undefined : { spec: rec.spec, baseImage: rec.baseImage ?? '', accel: rec.accel };
  }

  private async qmpOfRunning(vmId: string): Promise<string> {
    if ((await this.find(vmId)) === undefined) throw new VmHostError('FAILED_PRECONDITION', 'VM_NOT_RUNNING', `vm ${vmId} is not running`, { vm_id: vmId });
    return vmRunPaths(this.cfg.runVmsDir, vmId).qmpSocket;
  }

  private async launchLocked(input: LaunchInput): Promise<VmHandle> {
    const { spec, disks } = input;
    const run = vmRunPaths(this.cfg.runVmsDir, spec.vmId);
    if (path.resolve(spec.run.dir) !== path.resolve(run.dir)) {
      throw new VmHostError('INVALID_ARGUMENT', 'PATH_ESCAPE', 'spec was validated against another run root', { field: 'run_root' });
    }
    const running = await this.find(spec.vmId);
    if (running !== undefined) {
      const record = await readRecord(run.launchJson);
      if (record !== undefined && JSON.stringify(record.spec) !== JSON.stringify(spec)) {
        throw new VmHostError('ALREADY_EXISTS', 'VM_RUNNING_WITH_OTHER_SPEC', `vm ${spec.vmId} is already running with a different spec`, { vm_id: spec.vmId });
      }
      return { ...running, alreadyRunning: true };
    }
    await this.prepareRunDir(spec.vmId);
    const started = Date.now();
    const skip: JailLayer[] = [];
    const uid = allocateUid(new Set((await this.runningRecords()).map((r) => r.jail.uid)), this.cfg.jail);
    let cgroups: VmCgroups | null = null;
    try {
      cgroups = await prepareVmCgroups(this.cfg.cgroups, spec.vmId, {
        memoryBytes: (spec.memoryMib + this.cfg.jail.memoryOverheadMib) * 1024 * 1024,
        pids: this.cfg.jail.pidsMax,
        cpuUnits: spec.vcpus,
      });
    } catch (err) {
      if (!this.cfg.jail.optional.includes('cgroup')) throw layerUnavailable('cgroup', (err as Error).message);
      skip.push('cgroup');
      this.log.warn({ vm_id: spec.vmId, err }, 'VM runs without its cgroup ([privhelper] jail_optional_layers allows it)');
    }
    const attempt = async (sandbox: boolean): Promise<{ pid: number; supervisorPid: number; argv: string[] }> => {
      const namespaces = !skip.includes('namespaces');
      const argv = buildQemuArgv(spec, input.net !== undefined, {
        ...this.cfg,
        sandbox,
        kernel: namespaces ? JAIL_KERNEL : input.kernelPath,
        initrd: namespaces ? JAIL_INITRD : input.initrdPath,
        incoming: input.incoming === true,
        ...(input.ram ? { ram: input.ram.share ? ('shared' as const) : ('private' as const) } : {}),
      });
      const plan: JailPlan = {
        vmId: spec.vmId,
        uid,
        root: path.join(run.dir, 'jail'),
        kernel: input.kernelPath,
        initrd: input.initrdPath,
        devs: ['null', 'zero', 'urandom', ...(this.cfg.accel === 'kvm' ? ['kvm'] : [])],
        cgroupDirs: cgroups?.dirs ?? [],
        ...(input.net ? { tap: input.net.tap, ...(input.net.netns ? { netnsPath: path.join('/run/netns', input.net.netns) } : {}) } : {}),
        clientGid: this.cfg.clientGid,
        consoleMaxBytes: this.cfg.jail.consoleMaxBytes,
        skip: [...skip, ...(sandbox ? [] : (['seccomp'] as const))],
      };
      const diskFds = [disks.overlay.fd, disks.base.fd, ...(disks.work ? [disks.work.fd] : [])];
      // The RAM memfd follows the disks; the jailer moves it to FD.ram (QEMU's /proc/self/fd/9).
      const extra = [...diskFds, ...(input.ram ? [input.ram.fd] : [])];
      const ramFds = input.ram ? { ram: { src: 3 + diskFds.length, dst: FD.ram } } : {};
      const args = [...jailerArgs(plan, run, { keep: 2 + diskFds.length, qmp: FD.qmp, agent: FD.agent, tap: FD.tap, ...ramFds }), ...argv];
      const { pid, supervisorPid } = await this.startJailed(spec.vmId, args, extra, run);
      return { pid, supervisorPid, argv };
    };
    let launched: { pid: number; supervisorPid: number; argv: string[] };
    try {
      launched = await attempt(true);
    } catch (err) {
      const text = await readFile(run.qemuLog, 'utf8').catch(() => '');
      if (!/seccomp|sandbox/i.test(text)) throw err;
      if (!this.cfg.jail.optional.includes('seccomp')) throw layerUnavailable('seccomp', lastLine(text));
      skip.push('seccomp');
      this.log.warn({ vm_id: spec.vmId, qemu: lastLine(text) }, 'QEMU cannot sandbox itself here; VM runs without seccomp ([privhelper] jail_optional_layers allows it)');
      launched = await attempt(false);
    }
    const jail: JailRecord = { uid, cgroups, applied: JAIL_LAYERS.filter((l) => !skip.includes(l)), skipped: skip, supervisorPid: launched.supervisorPid };
    const record: LaunchRecord = { vmId: spec.vmId, accel: this.cfg.accel, argv: launched.argv, spec, baseImage: disks.baseImage, launchedAt: new Date().toISOString(), jail };
    await writeFile(run.launchJson, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    this.log.info({ vm_id: spec.vmId, pid: launched.pid, uid, accel: this.cfg.accel, jail_skipped: skip, cgroup: cgroups?.dirs ?? null, duration_ms: Date.now() - started }, 'vm launched');
    return { vmId: spec.vmId, pid: launched.pid, runDir: run.dir, accel: this.cfg.accel };
  }

  /**
   * Runs the jailer with the disks as fds 3.., waits for its "started <pid>" line, then for QEMU
   * to answer on QMP; a QEMU that exits first fails the launch with the end of its log.
   */
  private async startJailed(vmId: string, args: readonly string[], extraFds: readonly number[], run: VmRunPaths): Promise<{ pid: number; supervisorPid: number }> {
    const proc = await spawnProcess(this.cfg.jailerPath, args, { extraFds, stdout: 'pipe', stderr: 'tail', detached: true });
    const line = await firstLine(proc.stdout, proc.exited, this.cfg.startTimeoutMs ?? 15_000);
    const m = /^started (\d+)$/.exec(line ?? '');
    if (!m) {
      await proc.exited;
      const why = lastLine(proc.stderrTail()) || 'the jailer exited without starting QEMU';
      proc.detach();
      throw new VmHostError('INTERNAL', 'JAIL_FAILED', `vm ${vmId}: ${why}`, { vm_id: vmId });
    }
    const pid = Number(m[1]);
    proc.detach();
    const deadline = Date.now() + (this.cfg.startTimeoutMs ?? 15_000);
    for (;;) {
      const qmp = await QmpClient.connect(run.qmpSocket, 1000).catch(() => undefined);
      if (qmp) {
        qmp.close();
        return { pid, supervisorPid: proc.pid };
      }
      if (!(await isAlive(pid)) || Date.now() > deadline) {
        const log = await readFile(run.qemuLog, 'utf8').catch(() => '');
        if (await isAlive(pid)) process.kill(pid, 'SIGKILL');
        this.log.warn({ vm_id: vmId, qemu_log: log.slice(-1000) }, 'qemu launch failed');
        throw new VmHostError('INTERNAL', 'QEMU_LAUNCH_FAILED', `qemu did not start: ${lastLine(log) || 'no QMP answer'}`, { vm_id: vmId });
      }
      await sleep(50);
    }
  }

  private async runningRecords(): Promise<LaunchRecord[]> {
    const out: LaunchRecord[] = [];
    for (const id of await readdir(this.cfg.runVmsDir).catch(() => [] as string[])) {
      if (!VM_ID_RE.test(id) || (await this.find(id)) === undefined) continue;
      const rec = await readRecord(vmRunPaths(this.cfg.runVmsDir, id).launchJson);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** Guest memory of every running VM this driver knows (from its launch records), for the host quota. */
  async runningMemoryMib(): Promise<number> {
    return (await this.runningRecords()).reduce((a, r) => a + r.spec.memoryMib, 0);
  }

  /** Kernels that running VMs booted, so the store does not delete one under them. */
  async runningKernels(): Promise<{ name: string; version: string }[]> {
    return (await this.runningRecords()).map((r) => r.spec.kernel);
  }

  async jail(vmId: string): Promise<JailView | undefined> {
    const h = await this.find(vmId);
    if (h === undefined) return undefined;
    const record = await readRecord(vmRunPaths(this.cfg.runVmsDir, vmId).launchJson);
    return record ? inspectJail(h.pid, record.jail) : undefined;
  }

  /**
   * The jailer writes exit.json just after it reaps QEMU, so a caller that saw the pid go may
   * be a moment early: wait briefly while the supervisor is still alive.
   */
  async exit(vmId: string): Promise<ExitView | undefined> {
    const run = vmRunPaths(this.cfg.runVmsDir, validateVmId(vmId));
    const deadline = Date.now() + 2000;
    for (;;) {
      const exit = await readExit(run.exitJson);
      if (exit !== undefined || Date.now() > deadline) return exit;
      const supervisor = (await readRecord(run.launchJson))?.jail.supervisorPid;
      if (supervisor === undefined || !(await isAlive(supervisor))) return readExit(run.exitJson);
      await sleep(25);
    }
  }

  async find(vmId: string): Promise<VmHandle | undefined> {
    const run = vmRunPaths(this.cfg.runVmsDir, validateVmId(vmId));
    const pid = await readPidFile(run.pidFile);
    if (pid === undefined) return undefined;
    const cmd = await readCmdline(pid);
    if (cmd === undefined || !isOurQemu(cmd, vmId)) return undefined;
    // A reused pid of anything but a jailed QEMU of ours is not this VM.
    const uid = await procUid(pid);
    if (uid === undefined || !inJailRange(uid, this.cfg.jail)) return undefined;
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
      // A paused guest cannot see ctrl-alt-delete: let it run so it can shut down.
      if ((await qmp.queryStatus()).status === 'paused') await qmp.cont();
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
    const run = vmRunPaths(this.cfg.runVmsDir, validateVmId(vmId));
    const record = await readRecord(run.launchJson);
    if (record?.jail.cgroups) await removeVmCgroups(record.jail.cgroups);
    await rm(run.dir, { recursive: true, force: true });
    return { removed: record !== undefined };
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

  /** Hands a run dir to the client group (see QemuDriverConfig.clientGid). */
  private async shareWithClients(file: string, mode: number): Promise<void> {
    await chown(file, 0, this.cfg.clientGid);
    await chmod(file, mode);
  }

  /**
   * The run dir lives in privhelper's root-only run root, so nothing in it was put there by
   * another uid; leftovers of an earlier run are removed, never reused. `jail/` is the empty
   * mount point of the jail's root (mounted only in QEMU's own mount namespace).
   */
  private async prepareRunDir(vmId: string): Promise<void> {
    const run = vmRunPaths(this.cfg.runVmsDir, vmId);
    await mkdir(run.dir, { recursive: true, mode: 0o700 });
    await this.shareWithClients(run.dir, 0o750);
    for (const stale of [run.qmpSocket, run.agentSocket, run.pidFile, run.consoleLog, `${run.consoleLog}.1`, run.qemuLog, run.launchJson, run.exitJson]) await rm(stale, { force: true });
    await mkdir(path.join(run.dir, 'jail'), { recursive: true, mode: 0o700 });
  }

  private async stopped(vmId: string, outcome: StopOutcome, started: number): Promise<StopOutcome> {
    const record = await readRecord(vmRunPaths(this.cfg.runVmsDir, vmId).launchJson);
    if (record?.jail.cgroups) await removeVmCgroups(record.jail.cgroups);
    this.log.info({ vm_id: vmId, outcome, duration_ms: Date.now() - started }, 'vm stopped');
    return outcome;
  }
}

/** Up to ten minutes: a longer wait belongs to the caller's retry loop, not one helper call. */
function checkTimeout(timeoutMs: number): void {
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 600_000) {
    throw new VmHostError('INVALID_ARGUMENT', 'OUT_OF_RANGE', 'timeout_ms must be an integer within 0..600000', { field: 'timeout_ms' });
  }
}
