import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chown, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BangerLayout, DaemonLayout, HelperLayout } from '@banger/config';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { bangerAccount, type Account } from '../harness/accounts.js';
import { createStack, REPO_ROOT, type LogRecord, type Stack } from '../harness/daemons.js';
import { Netns, netnsUnavailableReason } from '../harness/netns.js';
import { buildTinyGuest, tinyGuestUnavailableReason } from '../harness/tinyguest.js';
import { prepareAgentLaunch, type AgentLaunch } from './lib/agent-launch.js';
import { Attacker } from './lib/attacker.js';
import { seedBuildCache, stageKernelAsDaemon, stageStoreImage, tinyKernelFiles, type KernelFiles, type SeededCache, type StoreImage } from './lib/build-inputs.js';
import { treeLayout, type BangerTree } from './lib/layout.js';
import { describeOpenFile, processUid, qemuHolding, qemuProcessesUnder, type OpenFile } from './lib/procfs.js';
import { createVictims, diffSnapshots, removeVictims, snapshotOwners, snapshotTree, type Snapshot, type Victims } from './lib/victims.js';

const run = promisify(execFile);

export { type Victims } from './lib/victims.js';
export { type Attacker } from './lib/attacker.js';

/** Why the security suite cannot run here, or undefined. It needs root to play both sides. */
export async function securityUnavailableReason(opts: { guest?: boolean } = {}): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root: it creates the banger user and starts privhelper as root';
  const net = netnsUnavailableReason();
  if (net) return net;
  for (const tool of ['/usr/bin/qemu-img', '/usr/sbin/mkfs.ext4', '/usr/sbin/resize2fs', '/usr/sbin/e2fsck', '/usr/sbin/debugfs', '/usr/bin/gcc', '/usr/sbin/useradd']) {
    if (!(await access(tool).then(() => true, () => false))) return `${tool} missing (apt-get install qemu-utils e2fsprogs gcc passwd)`;
  }
  if (opts.guest) {
    if (!(await access('/usr/bin/qemu-system-x86_64').then(() => true, () => false))) return 'qemu-system-x86_64 missing (apt-get install qemu-system-x86)';
    const tiny = await tinyGuestUnavailableReason();
    if (tiny) return tiny;
  }
  return undefined;
}

export interface HarnessOptions {
  /** `[vm]` bounds written to the config (vmd's limits, which privhelper enforces too). */
  vm?: { maxMemoryMib?: number; maxVcpus?: number; maxWorkDiskGib?: number };
  /** `[privhelper]` quotas; unset keys keep privhelper's defaults. */
  quotas?: { maxVms?: number; maxGuestMemoryPercent?: number; maxWorkDiskTotalGib?: number; deepProbeIntervalSeconds?: number };
  /** An image in privhelper's store and the tiny guest's kernel pulled (as banger) and installed by the attacker. */
  guest?: boolean;
  /** A legitimate build cache (base tarball + index, the pinned npm artifact) in privhelper's cache. */
  buildCache?: boolean;
  /** Run the attacker from a bundle even when the worktree is readable (tests the fallback). */
  forceBundle?: boolean;
}

/** One harness for a describe block: started before its tests, the QEMUs of each test killed after it, all removed at the end. */
export function useHarness(opts: HarnessOptions = {}): { readonly h: SecurityHarness } {
  let current: SecurityHarness | undefined;
  beforeAll(async () => {
    current = await SecurityHarness.start(opts);
  });
  afterEach(async () => {
    await current?.killQemus();
  });
  afterAll(async () => {
    await current?.close();
  });
  return {
    get h(): SecurityHarness {
      if (!current) throw new Error('security harness not started');
      return current;
    },
  };
}

/** Host state a test must leave exactly as it found it. */
export interface HostSnapshot {
  readonly victims: Snapshot;
  readonly outside: Snapshot;
}

/** The tiny guest's kernel as the attacker installed it. */
export interface InstalledTiny {
  readonly ref: { name: string; version: string };
  readonly stagingDir: string;
  readonly files: KernelFiles;
  readonly identity: { name: string; release: string; packageVersion: string };
}

/** privhelper's start-up refusal as its log records it. */
export interface StartRefusal {
  readonly exitCode: number | null;
  readonly reason: string;
  readonly message: string;
  readonly path: string;
  readonly fix: string;
}

const TINY_KERNEL = { name: 'tiny', version: '6.1.0-1' };

/**
 * A real privhelper running as root over a throwaway banger installation laid out the way
 * `banger system install` lays out a host (`bangerLayout`/`applyLayout`: root-owned tops,
 * privhelper's root-only roots, the daemons' own directories owned by banger), its network
 * verbs confined to a throwaway netns, and an attacker agent running as the real `banger`
 * uid. Victims are root-owned files in a root-only temp dir; the checks prove the host kept
 * them intact.
 */
export class SecurityHarness {
  private readonly victimSets: Victims[] = [];
  private readonly qemuPids = new Set<number>();
  private imageCount = 0;

  private constructor(
    readonly account: Account,
    readonly stack: Stack,
    readonly ns: Netns,
    readonly tree: BangerTree,
    readonly layout: BangerLayout,
    readonly attacker: Attacker,
    readonly launch: AgentLaunch,
    readonly racerPath: string,
    readonly image: StoreImage | undefined,
    readonly kernel: InstalledTiny | undefined,
    readonly cache: SeededCache | undefined,
  ) {}

  static async start(opts: HarnessOptions = {}): Promise<SecurityHarness> {
    const account = bangerAccount();
    const ns = await Netns.create();
    let stack: Stack | undefined;
    try {
      const vm = opts.vm ?? {};
      const q = opts.quotas ?? {};
      const memMax = vm.maxMemoryMib ?? 16384;
      stack = await createStack({
        allowedUids: [0, account.uid],
        // createStack's config ends inside [privhelper]: the quota keys come first, without a header.
        extraConfig: [
          ...(q.maxVms !== undefined ? [`max_vms = ${q.maxVms}`] : []),
          ...(q.maxGuestMemoryPercent !== undefined ? [`max_guest_memory_percent = ${q.maxGuestMemoryPercent}`] : []),
          ...(q.maxWorkDiskTotalGib !== undefined ? [`max_work_disk_total_gib = ${q.maxWorkDiskTotalGib}`] : []),
          ...(q.deepProbeIntervalSeconds !== undefined ? [`deep_probe_interval_seconds = ${q.deepProbeIntervalSeconds}`] : []),
          '[network]',
          `netns = "${ns.name}"`,
          'cidr = "10.214.0.0/24"',
          `bridge = "bgr-s${randomBytes(3).toString('hex')}"`,
          'tap_pool_size = 1',
          '[vm]',
          `max_memory_mib = ${memMax}`,
          `default_memory_mib = ${Math.min(1024, memMax)}`,
          `min_memory_mib = ${Math.min(128, memMax)}`,
          `max_vcpus = ${vm.maxVcpus ?? 8}`,
          'default_vcpus = 1',
          `max_work_disk_gib = ${vm.maxWorkDiskGib ?? 256}`,
          'default_work_disk_gib = 1',
        ].join('\n'),
      });
      const tree: BangerTree = { top: stack.dir, stateDir: path.join(stack.dir, 'state'), runDir: path.join(stack.dir, 'run'), cacheDir: path.join(stack.dir, 'cache') };
      const layout = treeLayout(tree);
      const home = path.join(stack.dir, 'home', 'banger');
      await mkdir(path.dirname(home), { recursive: true, mode: 0o755 });
      await mkdir(home, { mode: 0o700 });
      await chown(home, account.uid, account.gid);
      const racerPath = await compileRacer(path.join(stack.dir, 'bin'));
      const d = await stack.start('privhelper');
      if (d.child.pid === undefined || (await processUid(d.child.pid)) !== 0) throw new Error('privhelper is not running as root');
      const launch = await prepareAgentLaunch(account, home, { forceBundle: opts.forceBundle === true });
      const attacker = await Attacker.start(launch, stack.socket('privhelper'), racerPath);
      let image: StoreImage | undefined;
      let kernel: InstalledTiny | undefined;
      if (opts.guest) {
        image = await stageStoreImage(layout.helper, 'tiny-base', account.gid);
        const files = await tinyKernelFiles(await buildTinyGuest());
        const stagingDir = await stageKernelAsDaemon(layout.daemon.kernelStagingDir, TINY_KERNEL.name, TINY_KERNEL.version, files, account);
        const r = await attacker.call('installKernel', { kernel: TINY_KERNEL });
        if (!r.ok) throw new Error(`InstallKernel of the tiny guest failed: ${r.err.codeName} ${r.err.reason}: ${r.err.details}`);
        kernel = { ref: TINY_KERNEL, stagingDir, files, identity: { name: TINY_KERNEL.name, release: '6.1.0-tiny', packageVersion: TINY_KERNEL.version } };
      }
      const cache = opts.buildCache ? await seedBuildCache(layout.helper) : undefined;
      return new SecurityHarness(account, stack, ns, tree, layout, attacker, launch, racerPath, image, kernel, cache);
    } catch (err) {
      await stack?.close().catch(() => undefined);
      await ns.destroy().catch(() => undefined);
      throw err;
    }
  }

  get helper(): HelperLayout {
    return this.layout.helper;
  }
  get daemonDirs(): DaemonLayout {
    return this.layout.daemon;
  }
  get stateDir(): string {
    return this.tree.stateDir;
  }
  get runDir(): string {
    return this.tree.runDir;
  }
  get cacheDir(): string {
    return this.tree.cacheDir;
  }
  get socketPath(): string {
    return this.stack.socket('privhelper');
  }
  get privhelperPid(): number {
    const pid = this.stack.daemons.privhelper?.child.pid;
    if (pid === undefined) throw new Error('privhelper not started');
    return pid;
  }
  /** Lines of the current privhelper's log. */
  get helperLogs(): LogRecord[] {
    return this.stack.daemons.privhelper?.logs ?? [];
  }
  get guestImage(): StoreImage {
    if (!this.image) throw new Error('harness started without guest: true');
    return this.image;
  }
  get tiny(): InstalledTiny {
    if (!this.kernel) throw new Error('harness started without guest: true');
    return this.kernel;
  }

  /** Another image in the store (root's), for a test that damages one. */
  async addStoreImage(prefix: string): Promise<StoreImage> {
    this.imageCount += 1;
    return stageStoreImage(this.helper, `${prefix}-${this.imageCount}`, this.account.gid);
  }

  /** Stops privhelper by its pid and starts a fresh one; reports a start the attack broke instead of throwing. */
  async restartPrivhelper(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ started: boolean; error?: string }> {
    await this.stack.stop('privhelper', signal);
    try {
      await this.stack.start('privhelper');
      return { started: true };
    } catch (err) {
      const fatal = this.helperLogs.find((l) => l.msg === 'start-up failed' || l.msg === 'start-up refused');
      const why = (fatal?.['err'] as { message?: string } | undefined)?.message;
      return { started: false, error: why ?? (err instanceof Error ? err.message : String(err)) };
    }
  }

  /**
   * Starts privhelper where a start is expected to be refused; returns what its log said, or
   * undefined when it started after all (then it keeps running, as a normal start would).
   */
  async startExpectingRefusal(): Promise<StartRefusal | undefined> {
    await this.stack.stop('privhelper');
    try {
      await this.stack.start('privhelper');
      return undefined;
    } catch {
      const d = this.stack.daemons.privhelper;
      const exited = d && (d.child.exitCode !== null || d.child.signalCode !== null) ? Promise.resolve() : new Promise((r) => d?.child.once('exit', r));
      await exited;
      const line = this.helperLogs.find((l) => l.msg === 'start-up refused' || l.msg === 'start-up failed');
      const err = (line?.['err'] ?? {}) as { message?: string; reason?: string };
      return {
        exitCode: d?.child.exitCode ?? null,
        reason: err.reason ?? '',
        message: err.message ?? (line ? JSON.stringify(line) : (d?.stray.join('') ?? '')),
        path: typeof line?.['path'] === 'string' ? line['path'] : '',
        fix: typeof line?.['fix'] === 'string' ? line['fix'] : '',
      };
    }
  }

  /** Fresh victims for one test; removed by close(). */
  async victims(): Promise<Victims> {
    const v = await createVictims();
    this.victimSets.push(v);
    return v;
  }

  /**
   * Directories that are not banger's: the throwaway tree's own skeleton, the repository, and
   * host directories an escape would reach for. Owner and mode only. The layout's root-owned
   * directories are checked too (the daemon's own are the attacker's to change).
   */
  private outsideDirs(): string[] {
    const skeleton = [this.tree.top, path.join(this.tree.top, 'home'), path.join(this.tree.top, 'bin')];
    const layoutDirs = this.layout.dirs.filter((d) => d.owner === 'root').map((d) => d.path);
    return [...skeleton, ...layoutDirs, REPO_ROOT, path.dirname(this.tree.top), '/', '/etc', '/run', '/var', '/var/lib', '/var/cache', '/dev', '/root', '/usr', '/usr/bin'];
  }

  async hostSnapshot(v: Victims): Promise<HostSnapshot> {
    return { victims: await snapshotTree(v.root), outside: await snapshotOwners(this.outsideDirs()) };
  }

  /** Every way the host differs from `before`, one line each; empty when the attack had no effect. */
  async hostChanges(v: Victims, before: HostSnapshot): Promise<string[]> {
    const now = await this.hostSnapshot(v);
    return [
      ...diffSnapshots(before.victims, now.victims).map((l) => `victim ${path.join(v.root, l)}`),
      ...diffSnapshots(before.outside, now.outside).map((l) => `outside the attacker's reach: ${l}`),
      ...(await this.qemuHolding(v)).map(describeOpenFile),
    ];
  }

  qemuHolding(v: Victims): Promise<OpenFile[]> {
    return qemuHolding(v.root);
  }

  /** A QEMU privhelper started for the attacker; killed by pid on close if still running. */
  trackQemu(pid: number): void {
    this.qemuPids.add(pid);
  }

  /** Kills (by pid) every QEMU whose command line names a file of this tree, and waits for them to go. */
  async killQemus(): Promise<number[]> {
    const pids = new Set([...this.qemuPids, ...(await qemuProcessesUnder(this.tree.top))]);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (let i = 0; i < 50 && (await qemuProcessesUnder(this.tree.top)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    this.qemuPids.clear();
    return [...pids];
  }

  async close(): Promise<void> {
    const errors: unknown[] = [];
    await this.killQemus().catch((e: unknown) => errors.push(e));
    await this.attacker.close().catch((e: unknown) => errors.push(e));
    await this.stack.stop('privhelper', 'SIGKILL').catch((e: unknown) => errors.push(e));
    await this.stack.close().catch((e: unknown) => errors.push(e));
    for (const v of this.victimSets) await removeVictims(v).catch((e: unknown) => errors.push(e));
    await this.ns.destroy().catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw new AggregateError(errors, 'security harness cleanup failed');
  }
}

/** The attacker's racer loops, compiled for this run into a root-owned 0755 directory banger can execute from. */
async function compileRacer(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const out = path.join(dir, 'racer');
  await run('gcc', ['-O2', '-Wall', '-o', out, path.join(REPO_ROOT, 'integration', 'security', 'lib', 'racer.c')]);
  return out;
}
