import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, chown, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { createStack, REPO_ROOT, type Stack } from '../harness/daemons.js';
import { Netns, netnsUnavailableReason } from '../harness/netns.js';
import { tinyGuestUnavailableReason } from '../harness/tinyguest.js';
import { ensureBangerAccount, type Account } from './lib/account.js';
import { prepareAgentLaunch, type AgentLaunch } from './lib/agent-launch.js';
import { Attacker } from './lib/attacker.js';
import { seedBuildCacheAsRoot, stageKernel, stageTinyGuest, type StagedGuest, type StagedKernelDir } from './lib/build-inputs.js';
import { applyTmpfiles, inTree, type BangerTree, type TmpfilesDir } from './lib/layout.js';
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
  /** `[vm]` bounds written to the config (vmd's limits, which privhelper should enforce too). */
  vm?: { maxMemoryMib?: number; maxVcpus?: number; maxWorkDiskGib?: number };
  /** Stage the tiny guest (kernel, initrd, a base ext4) and a kernel dir, as imaged would have. */
  guest?: boolean;
  /** Run the attacker from a bundle even when the worktree is readable (tests the fallback). */
  forceBundle?: boolean;
  /** Put a legitimate build cache in place as root (see seedBuildCacheAsRoot), once or before every test. */
  seedBuildCache?: 'once' | 'each';
}

/**
 * One harness for a describe block: started before its tests, QEMUs the attacker got killed
 * after each test, everything removed at the end.
 */
export function useHarness(opts: HarnessOptions = {}): { readonly h: SecurityHarness } {
  let current: SecurityHarness | undefined;
  beforeAll(async () => {
    current = await SecurityHarness.start(opts);
    if (opts.seedBuildCache === 'once') await seedBuildCacheAsRoot(current.cacheDir);
  });
  beforeEach(async () => {
    if (opts.seedBuildCache === 'each' && current) await seedBuildCacheAsRoot(current.cacheDir);
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

/**
 * A real privhelper running as root over a throwaway banger installation laid out the way
 * `banger system install` and deploy/systemd/banger.tmpfiles.conf lay out a host (state, run
 * and cache dirs owned banger:banger with their modes), its network verbs confined to a
 * throwaway netns, and an attacker agent running as the real `banger` uid. Victims are
 * root-owned files in a root-only temp dir; the checks prove the host kept them intact.
 */
export class SecurityHarness {
  private readonly victimSets: Victims[] = [];
  private readonly qemuPids = new Set<number>();

  private constructor(
    readonly account: Account,
    readonly stack: Stack,
    readonly ns: Netns,
    readonly tree: BangerTree,
    readonly layout: readonly TmpfilesDir[],
    readonly attacker: Attacker,
    readonly launch: AgentLaunch,
    readonly racerPath: string,
    readonly guest: StagedGuest | undefined,
    readonly kernel: StagedKernelDir | undefined,
  ) {}

  static async start(opts: HarnessOptions = {}): Promise<SecurityHarness> {
    const account = await ensureBangerAccount();
    const ns = await Netns.create();
    let stack: Stack | undefined;
    try {
      const vm = opts.vm ?? {};
      const memMax = vm.maxMemoryMib ?? 16384;
      stack = await createStack({
        allowedUids: [0, account.uid],
        clientGroup: 'banger',
        extraConfig: [
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
          `default_vcpus = 1`,
          `max_work_disk_gib = ${vm.maxWorkDiskGib ?? 256}`,
          `default_work_disk_gib = 1`,
        ].join('\n'),
      });
      // Production's / is traversable by everyone; mkdtemp's 0700 would hide banger's dirs.
      await chmod(stack.dir, 0o755);
      const tree: BangerTree = { top: stack.dir, stateDir: path.join(stack.dir, 'state'), runDir: path.join(stack.dir, 'run'), cacheDir: path.join(stack.dir, 'cache') };
      const layout = await applyTmpfiles(tree, account);
      const home = path.join(stack.dir, 'home', 'banger');
      await mkdir(path.dirname(home), { recursive: true, mode: 0o755 });
      await mkdir(home, { mode: 0o700 });
      await chown(home, account.uid, account.gid);
      const racerPath = await compileRacer(path.join(stack.dir, 'bin'));
      const guest = opts.guest ? await stageTinyGuest(tree.stateDir, account) : undefined;
      const kernel = guest ? await stageKernel(tree.stateDir, guest, account) : undefined;
      const d = await stack.start('privhelper');
      if (d.child.pid === undefined || (await processUid(d.child.pid)) !== 0) throw new Error('privhelper is not running as root');
      const launch = await prepareAgentLaunch(account, home, { forceBundle: opts.forceBundle === true });
      const attacker = await Attacker.start(launch, stack.socket('privhelper'), racerPath);
      return new SecurityHarness(account, stack, ns, tree, layout, attacker, launch, racerPath, guest, kernel);
    } catch (err) {
      await stack?.close().catch(() => undefined);
      await ns.destroy().catch(() => undefined);
      throw err;
    }
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

  /** Stops privhelper by its pid and starts a fresh one; reports a start the attack broke instead of throwing. */
  async restartPrivhelper(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ started: boolean; error?: string }> {
    await this.stack.stop('privhelper', signal);
    try {
      await this.stack.start('privhelper');
      return { started: true };
    } catch (err) {
      const fatal = this.stack.daemons.privhelper?.logs.find((l) => l.msg === 'start-up failed');
      const why = (fatal?.['err'] as { message?: string } | undefined)?.message;
      return { started: false, error: why ?? (err instanceof Error ? err.message : String(err)) };
    }
  }

  /** Fresh victims for one test; removed by close(). */
  async victims(): Promise<Victims> {
    const v = await createVictims();
    this.victimSets.push(v);
    return v;
  }

  /**
   * Directories that are not banger's: the throwaway tree's own skeleton (its top and every
   * parent tmpfiles needed), the repository, and host directories an escape would reach for.
   * Owner and mode only.
   */
  private outsideDirs(): string[] {
    const mine = new Set(this.layout.map((d) => inTree(this.tree, d.path)));
    const skeleton = new Set<string>([this.tree.top, path.join(this.tree.top, 'home'), path.join(this.tree.top, 'bin')]);
    for (const d of mine) for (let p = path.dirname(d); p.startsWith(this.tree.top) && p !== this.tree.top; p = path.dirname(p)) if (!mine.has(p)) skeleton.add(p);
    return [...skeleton, REPO_ROOT, path.dirname(this.tree.top), '/', '/etc', '/run', '/var', '/var/lib', '/var/cache', '/dev', '/root', '/usr', '/usr/bin'];
  }

  async hostSnapshot(v: Victims): Promise<HostSnapshot> {
    return { victims: await snapshotTree(v.root), outside: await snapshotOwners(this.outsideDirs()) };
  }

  /** Every way the host differs from `before`, one line each; empty when the attack had no effect. */
  async hostChanges(v: Victims, before: HostSnapshot): Promise<string[]> {
    const now = await this.hostSnapshot(v);
    return [
      ...diffSnapshots(before.victims, now.victims).map((l) => `victim ${path.join(v.root, l)}`),
      ...diffSnapshots(before.outside, now.outside).map((l) => `outside banger's tree: ${l}`),
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
