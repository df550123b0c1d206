// The stack the fault suites break: the three real daemons with VM networking in a throwaway
// namespace, vmd behind the stage gate, a janitor with short timers, and the probes that say
// what a fault left behind on the host.
import { randomBytes } from 'node:crypto';
import { readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commonv1, helperv2, imagev1, vmv1 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import { createStack, GATED_VMD, type DaemonName, type Stack } from '../harness/daemons.js';
import { TEST_CACHE } from '../harness/guest.js';
import { Netns } from '../harness/netns.js';
import type { PostgresServer } from '../harness/postgres.js';
import { collect, qemuPidsFor, type ImageClient, type VmClient } from '../vm/vmstack.js';
import { waitForPidExit } from '../../services/privhelper/src/adapters/proc/pids.js';

/**
 * What a cell kills: a daemon, a VM's QEMU, the process that owns the embedded database, or
 * the postmaster of the external PostgreSQL vmd uses (`useExternalDatabase`).
 */
export type Victim = DaemonName | 'qemu' | 'database' | 'external database';

/** What a cell brings back after the kill: a daemon, or the external database server. */
export type Restartable = DaemonName | 'external database';

/**
 * Janitor timers for tests: a pass every 2 s (retries every 5 s while something is pending, as
 * in production) and a 10 s orphan grace instead of 120 s, so convergence is measured in
 * seconds; production keeps the defaults.
 */
const JANITOR_CONFIG = ['[vmd]', 'gc_grace_seconds = 10', 'gc_interval_seconds = 2'];

export interface FaultStack {
  stack: Stack;
  ns: Netns;
  vmd: VmClient;
  images: ImageClient;
  helper: ServiceClient<typeof helperv2.HelperServiceService>;
  /** (Re)starts vmd, behind a gate that pauses `stage` of `kind` until `release()`, or ungated. */
  startVmd(gate?: { stage: string; kind: string }): Promise<void>;
  /** Lets a paused operation go on. */
  release(): Promise<void>;
  /**
   * The stack variant on external PostgreSQL: vmd restarted with `[database] url` (as
   * BANGER_DATABASE_URL) naming a fresh database on `pg`, a server the test started itself.
   * imaged keeps its embedded database. vmd starts empty there, so call it with no VM left.
   */
  useExternalDatabase(pg: PostgresServer): Promise<void>;
  /** The external server vmd uses, once `useExternalDatabase` was called. */
  externalDb?: PostgresServer;
  close(): Promise<void>;
}

export async function createFaultStack(): Promise<FaultStack> {
  const ns = await Netns.create();
  const bridge = `bgr-f${randomBytes(2).toString('hex')}`;
  const stack = await createStack({
    extraConfig: [
      '[network]', `netns = "${ns.name}"`, 'cidr = "10.233.0.0/24"', `bridge = "${bridge}"`,
      '[vm]', 'default_memory_mib = 512', 'agent_timeout_seconds = 300', 'services_timeout_seconds = 400',
      ...JANITOR_CONFIG,
    ].join('\n'),
  });
  stack.env['BANGER_PATHS_CACHE_DIR'] = TEST_CACHE;
  try {
    await stack.start('privhelper');
    await stack.start('imaged');
  } catch (err) {
    // A daemon that did not start under load must not leave the others (privhelper is root) running.
    await stack.close();
    await ns.destroy();
    throw err;
  }
  const releaseFile = join(stack.dir, 'gate-release');
  let vmdEnv: NodeJS.ProcessEnv = {};
  const fs: FaultStack = {
    stack,
    ns,
    vmd: new ServiceClient(vmv1.VmServiceService, stack.socket('vmd')),
    images: new ServiceClient(imagev1.ImageServiceService, stack.socket('imaged')),
    helper: new ServiceClient(helperv2.HelperServiceService, stack.socket('privhelper'), { peer: 'privhelper' }),
    async startVmd(gate) {
      await stack.stop('vmd');
      await rm(releaseFile, { force: true });
      if (!gate) await stack.start('vmd', { env: vmdEnv });
      else {
        const spec = { ...gate, action: 'pause', release: releaseFile };
        await stack.start('vmd', { entry: GATED_VMD, env: { ...vmdEnv, BANGER_TEST_STAGE_GATE: JSON.stringify(spec) } });
      }
    },
    async release() {
      await writeFile(releaseFile, '');
    },
    async useExternalDatabase(pg) {
      vmdEnv = { BANGER_DATABASE_URL: await pg.createDatabase() };
      fs.externalDb = pg;
      await fs.startVmd();
    },
    async close() {
      fs.vmd.close();
      fs.images.close();
      fs.helper.close();
      for (const pid of await stackQemuPids(stack)) killPid(pid);
      await stack.close();
      await ns.destroy();
    },
  };
  try {
    await fs.startVmd();
  } catch (err) {
    await fs.close();
    throw err;
  }
  return fs;
}

/** The default image (built once per machine in the shared cache), as the VM suites get it. */
export async function ensureDefaultImage(fs: FaultStack): Promise<void> {
  const build = fs.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 });
  const { error } = await collect(build);
  if (error instanceof Error) throw error;
  if (error !== undefined) throw new Error('image build failed');
}

/** Whose database a "database" victim is: vmd's for the VM verbs, imaged's for image builds. */
export type DbOwner = 'vmd' | 'imaged';

/**
 * The pid of the process that owns the database, the one a "database" victim kills: the
 * embedded default is a private PostgreSQL cluster per daemon, so it is the postmaster of the
 * owner's cluster. The owner starts that cluster, so the owner is what is restarted.
 */
export function databaseOwnerPid(fs: FaultStack, owner: DbOwner = 'vmd'): { pid: number; restart: DaemonName } {
  const pid = fs.stack.embeddedDbPid(owner);
  if (!pid) throw new Error(`${owner}'s embedded database cluster is not running`);
  return { pid, restart: owner };
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** QEMU processes of this stack's VMs, by the pid files privhelper writes and the VM dirs. */
async function stackQemuPids(stack: Stack): Promise<number[]> {
  const ids = await readdir(join(stack.dir, 'run', 'helper', 'vms')).catch(() => [] as string[]);
  return (await Promise.all(ids.map((id) => qemuPidsFor(id)))).flat();
}

/** SIGKILLs the victim (a process this test started); answers what has to be restarted, if any. */
export async function kill(fs: FaultStack, victim: Victim, vmId: string, dbOwner: DbOwner = 'vmd'): Promise<Restartable | undefined> {
  if (victim === 'qemu') {
    const pids = await qemuPidsFor(vmId);
    if (pids.length === 0) throw new Error(`no QEMU runs for ${vmId}`);
    for (const pid of pids) killPid(pid);
    return undefined;
  }
  if (victim === 'external database') {
    // The server dies under vmd, which keeps running; the server is brought back by the cell.
    const pid = fs.externalDb?.postmasterPid();
    if (!pid) throw new Error('vmd uses no external database server, or it is not running');
    killPid(pid);
    if (!(await waitForPidExit(pid, 10_000, 50))) throw new Error(`postmaster ${pid} still alive 10 s after SIGKILL`);
    return 'external database';
  }
  if (victim === 'database') {
    // The postmaster dies under the running operation; its daemon, which owns starting its
    // cluster (it adopts or restarts it at start-up, with crash recovery), goes down after it.
    const owner = databaseOwnerPid(fs, dbOwner);
    killPid(owner.pid);
    if (!(await waitForPidExit(owner.pid, 10_000, 50))) throw new Error(`postmaster ${owner.pid} still alive 10 s after SIGKILL`);
    await new Promise((r) => setTimeout(r, 500));
    await fs.stack.stop(owner.restart, 'SIGKILL');
    return owner.restart;
  }
  await fs.stack.stop(victim, 'SIGKILL');
  return victim;
}

/** Restarts a killed daemon (vmd ungated), or the external database server as its operator would. */
export async function restart(fs: FaultStack, name: Restartable): Promise<void> {
  if (name === 'external database') {
    if (!fs.externalDb) throw new Error('no external database server to start');
    await fs.externalDb.startAfterKill();
  }
  else if (name === 'vmd') await fs.startVmd();
  else await fs.stack.start(name);
}

interface NftObject {
  set?: { name: string; elem?: unknown[] };
  map?: { name: string; elem?: unknown[] };
}

/** Elements of the per-VM fence sets and the egress policy map: one per fenced VM each. */
async function fenceElements(ns: Netns): Promise<number> {
  const r = await ns.exec('nft', ['-j', 'list', 'ruleset']);
  if (r.code !== 0) return 0;
  const objs = (JSON.parse(r.stdout) as { nftables: NftObject[] }).nftables;
  const perVm = ['fence_mac', 'fence_ip', 'guest_policy'];
  return Math.max(0, ...objs.map((o) => o.set ?? o.map).filter((s) => s && perVm.includes(s.name)).map((s) => s?.elem?.length ?? 0));
}

/**
 * Everything on the host that no live VM accounts for: taps marked for a VM without a running
 * row, DNS records without a row, disk dirs (overlay, work disk) and run dirs without a row,
 * QEMU processes without a running row, fence elements beyond the running VMs, rows in a
 * transient state, and operations still `running`. Empty means converged.
 */
export async function leftovers(fs: FaultStack): Promise<string[]> {
  const rows = (await fs.vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}))).vms;
  const ids = new Set(rows.map((v) => v.id));
  const running = new Set(rows.filter((v) => v.state === vmv1.VmState.VM_STATE_RUNNING).map((v) => v.id));
  const out: string[] = [];
  for (const v of rows) {
    // Suspended is a resting state too (its saved state is on disk; snapshotLeftovers checks that side).
    if (![vmv1.VmState.VM_STATE_RUNNING, vmv1.VmState.VM_STATE_STOPPED, vmv1.VmState.VM_STATE_SUSPENDED].includes(v.state)) out.push(`row ${v.name} in ${vmv1.vmStateToJSON(v.state)}`);
  }
  const links = JSON.parse(await fs.ns.must('ip', ['-j', '-d', 'link', 'show'])) as { ifname: string; ifalias?: string }[];
  for (const l of links) if (l.ifalias?.startsWith('vm:') && !running.has(l.ifalias.slice(3))) out.push(`tap ${l.ifname} (${l.ifalias})`);
  const held = await fs.helper.unary('listHeld', {});
  const names = new Set(rows.map((v) => v.name));
  for (const d of held.dnsRecords) if (!names.has(d)) out.push(`dns record ${d}`);
  for (const id of await readdir(join(fs.stack.dir, 'state', 'helper', 'vms')).catch(() => [] as string[])) if (!ids.has(id)) out.push(`disk dir ${id}`);
  // A stopped VM keeps its run dir (its console log stays readable); one without a row must not.
  for (const id of await readdir(join(fs.stack.dir, 'run', 'helper', 'vms')).catch(() => [] as string[])) if (!ids.has(id)) out.push(`run dir ${id}`);
  for (const h of held.vms) if (h.hypervisorPid && !running.has(h.vmId)) out.push(`qemu ${h.hypervisorPid} of ${h.vmId}`);
  for (const id of ids) if (!running.has(id) && (await qemuPidsFor(id)).length > 0) out.push(`qemu of stopped ${id}`);
  const fences = await fenceElements(fs.ns);
  if (fences > running.size) out.push(`${fences - running.size} nft fence element(s)`);
  for (const dir of await partialPulls(fs)) out.push(`partial kernel pull ${dir}`);
  out.push(...(await snapshotLeftovers(fs, rows)));
  out.push(...(await imageLeftovers(fs)));
  const imagedOps = await fs.images.unary('listOperations', imagev1.ListOperationsRequest.fromPartial({ states: [commonv1.OperationState.OPERATION_STATE_RUNNING] }));
  for (const op of imagedOps.operations) out.push(`imaged operation ${op.opId} still running`);
  const ops = await fs.vmd.unary('listOperations', vmv1.ListOperationsRequest.fromPartial({ states: [commonv1.OperationState.OPERATION_STATE_RUNNING] }));
  for (const op of ops.operations) out.push(`operation ${op.opId} still running`);
  return out;
}

/**
 * What a snapshot, suspend or restore can leave: a snapshot dir no row names, a `.partial-`
 * one, a row still `creating`, a saved state of a VM that is not suspended, and a clone (its
 * disks and QEMU are the VM checks' own: a clone is a VM).
 */
async function snapshotLeftovers(fs: FaultStack, vms: readonly vmv1.Vm[]): Promise<string[]> {
  const out: string[] = [];
  const rows = (await fs.vmd.unary('listSnapshots', { source: '' })).snapshots;
  for (const r of rows) if (r.state !== 'ready') out.push(`snapshot row ${r.name} in ${r.state}`);
  const ids = new Set(rows.map((r) => r.id));
  for (const name of await readdir(join(fs.stack.dir, 'state', 'helper', 'snapshots')).catch(() => [] as string[])) {
    if (name.startsWith('.partial-')) out.push(`partial snapshot ${name}`);
    else if (!ids.has(name)) out.push(`snapshot dir ${name} without a row`);
  }
  const suspended = new Set(vms.filter((v) => v.state === vmv1.VmState.VM_STATE_SUSPENDED).map((v) => v.id));
  for (const h of (await fs.helper.unary('listHeld', {})).vms) if (h.savedStateBytes > 0 && !suspended.has(h.vmId)) out.push(`saved state of ${h.vmId} (not suspended)`);
  return out;
}

/** privhelper's build root, where every build and promotion runs in its own mkdtemp. */
const buildRoot = (fs: FaultStack): string => join(fs.stack.dir, 'state', 'helper', 'build');

/** Live processes whose cwd, root or an open file is under `dir` (tools a build left running). */
export async function processesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const links = [`/proc/${pid}/cwd`, `/proc/${pid}/root`, ...(await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])).map((fd) => `/proc/${pid}/fd/${fd}`)];
    for (const l of links) {
      const target = await readlink(l).catch(() => '');
      if (target === dir || target.startsWith(`${dir}/`)) {
        const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
        out.push(`${pid} ${comm}`);
        break;
      }
    }
  }
  return out;
}

/**
 * What an image build can leave: a partial build dir, a tool still working in one, an image
 * in privhelper's store no row of imaged names, or a row whose root filesystem is missing.
 */
async function imageLeftovers(fs: FaultStack): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(buildRoot(fs)).catch(() => [] as string[])) out.push(`partial build ${name}`);
  for (const p of await processesUnder(buildRoot(fs))) out.push(`build tool ${p}`);
  const rows = (await fs.images.unary('listImages', imagev1.ListImagesRequest.fromPartial({}))).images;
  const stored = (await fs.helper.unary('listImages', {})).images.map((i) => i.image);
  for (const id of stored) if (!rows.some((r) => r.rootfsPath.includes(`/${id}/`))) out.push(`image dir ${id} without a row`);
  for (const r of rows) if (!stored.some((id) => r.rootfsPath.includes(`/${id}/`))) out.push(`image row ${r.name} without its files`);
  return out;
}

/** imaged's kernel staging dir. */
export const kernelStaging = (fs: FaultStack): string => join(fs.stack.dir, 'state', 'kernels');

/** Work dirs of kernel pulls (`<staging>/<name>/.pull-*`). */
export async function partialPulls(fs: FaultStack): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(kernelStaging(fs)).catch(() => [] as string[])) {
    for (const v of await readdir(join(kernelStaging(fs), name)).catch(() => [] as string[])) if (v.startsWith('.pull-')) out.push(`${name}/${v}`);
  }
  return out;
}

/** Polls `leftovers` until empty; answers how long it took, or throws with what stayed. */
export async function converge(fs: FaultStack, withinMs: number): Promise<number> {
  const start = Date.now();
  let last: string[] = [];
  for (;;) {
    last = await leftovers(fs).catch((e: unknown) => [`probe failed: ${String(e)}`]);
    if (last.length === 0) return Date.now() - start;
    if (Date.now() - start > withinMs) throw new Error(`not converged within ${withinMs} ms: ${last.join('; ')}`);
    await sleep(500);
  }
}

