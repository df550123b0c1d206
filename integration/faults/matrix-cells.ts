// The cells of the fault matrix and the run of one: put an operation at an exact point, SIGKILL
// the victim, restart it, then measure how long the host takes to hold nothing no live VM owns.
import { setTimeout as sleep } from 'node:timers/promises';
import { commonv1, vmv1 } from '@banger/api';
import { RpcError } from '@banger/runtime';
import { collect } from '../vm/vmstack.js';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { imagev1 } from '@banger/api';
import { ROOTFS_STAGES } from '@banger/imagekit';
import { TEST_KERNEL, TEST_RECIPE } from '../harness/guest.js';
import { converge, kernelStaging, kill, leftovers, partialPulls, restart, type FaultStack, type Victim } from './fault-stack.js';

export type Verb = 'create' | 'start' | 'stop' | 'delete' | 'prune' | 'kernel pull' | 'image build' | 'snapshot' | 'suspend';

export interface Cell {
  verb: Verb;
  /** A stage of a create or a start (the gate pauses right after it), or `in-flight` for a unary verb. */
  stage: string;
  victim: Victim;
  /** Why this cell is in the CI subset. */
  why?: string;
}

export interface CellResult {
  cell: Cell;
  outcome: string;
  /** The operation's id (create, start), for its logs. */
  opId?: string;
  /** What the record listed as not undone before the victim was back (create, start with vmd alive). */
  recordedLeftovers?: string[];
  /** Kinds of the leftovers vmd logged as cleaned up under the operation's id. */
  cleanedUnderOp?: string[];
  /** What was still on the host right after the restart (before the janitor's first pass). */
  leftAtRestart: string[];
  convergeMs: number;
}

/** Every stage each verb can be stopped at; the full product runs them all with BANGER_FAULTS_FULL=1. */
export const STAGES: Record<Verb, readonly string[]> = {
  create: ['reserve', 'network', 'disks', 'boot', 'agent'],
  start: ['network', 'boot', 'agent'],
  // SnapshotVm's one stage: privhelper pauses the VM, writes state.bin, copies its disks, continues it.
  snapshot: ['save'],
  // SuspendVm's one stage: privhelper writes state and RAM to the VM's disk dir and QEMU exits.
  suspend: ['save'],
  stop: ['in-flight'],
  delete: ['in-flight'],
  prune: ['in-flight'],
  'kernel pull': ['download'],
  // The root filesystem's own steps, inside privhelper's build (imaged's resolve/fingerprint/register are short database steps).
  'image build': ROOTFS_STAGES,
};

export const VICTIMS: readonly Victim[] = ['vmd', 'imaged', 'privhelper', 'qemu', 'database'];

/** QEMU exists only from a create's or start's boot on, and while a running VM stops or is deleted. */
export function applicable(c: Cell): boolean {
  // The kernel pull's database is imaged's own; databaseOwnerPid names vmd's.
  if (c.verb === 'kernel pull' && (c.victim === 'vmd' || c.victim === 'database')) return false;
  // An image build involves neither vmd nor a VM; its database victim is imaged's cluster.
  if (c.verb === 'image build') return c.victim !== 'vmd' && c.victim !== 'qemu';
  if (c.victim !== 'qemu') return true;
  if (c.verb === 'prune' || c.verb === 'kernel pull') return false;
  return c.verb === 'snapshot' || c.verb === 'suspend' || c.stage === 'in-flight' || STAGES[c.verb].indexOf(c.stage) >= STAGES[c.verb].indexOf('boot');
}

const CONVERGE_MS = 60_000;

const stateOf = async (fs: FaultStack, ref: string): Promise<vmv1.VmState | undefined> =>
  (await fs.vmd.unary('getVm', { ref, includeSecrets: false }).catch(() => undefined))?.vm?.state;

/** How an operation's record says it ended, after a fault: never still running. */
async function recordedOutcome(fs: FaultStack, opId: string): Promise<string> {
  const op = (await fs.vmd.unary('getOperation', { opId })).operation;
  if (!op) throw new Error(`operation ${opId} has no record`);
  if (op.state === commonv1.OperationState.OPERATION_STATE_RUNNING) throw new Error(`operation ${opId} is still running after the fault`);
  if (op.leftovers.length > 0) throw new Error(`operation ${opId} still lists leftovers after convergence: ${op.leftovers.map((r) => `${r.kind} ${r.id}`).join(', ')}`);
  if (op.state === commonv1.OperationState.OPERATION_STATE_SUCCEEDED) return 'completed';
  if (!op.error?.reason || !op.error.message) throw new Error(`operation ${opId} ended ${op.state} without saying why`);
  return op.error.reason === 'INTERRUPTED' ? 'interrupted' : `failed ${op.error.reason}`;
}

/** Restarts what was killed, then times the host's convergence from that moment. */
async function settle(fs: FaultStack, toRestart: Awaited<ReturnType<typeof kill>>): Promise<{ leftAtRestart: string[]; convergeMs: number }> {
  if (toRestart) await restart(fs, toRestart);
  const leftAtRestart = await leftovers(fs).catch((e: unknown) => [`probe failed: ${String(e)}`]);
  return { leftAtRestart, convergeMs: await converge(fs, CONVERGE_MS) };
}

const STAGED_KINDS: Partial<Record<Verb, string>> = { create: 'vm_create', start: 'vm_start', snapshot: 'vm_snapshot', suspend: 'vm_suspend' };

/**
 * Runs one cell with the runner its verb needs. Every verb is named: a verb that fell through
 * to another runner once made the suspend cell run a prune, and "completed" was prune's answer.
 */
export function runCell(fs: FaultStack, cell: Cell, vmName: string, snapshotName: string): Promise<CellResult> {
  if (cell.verb === 'image build') return imageBuildCell(fs, cell);
  if (cell.verb === 'kernel pull') return kernelPullCell(fs, cell);
  if (STAGED_KINDS[cell.verb] !== undefined) return stagedCell(fs, cell, vmName, snapshotName);
  return unaryCell(fs, cell, vmName);
}

function stagedCall(fs: FaultStack, verb: Verb, vmName: string, snapshotName: string) {
  if (verb === 'create') return fs.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: vmName, noWait: true }), { timeoutMs: 600_000 });
  if (verb === 'start') return fs.vmd.serverStream('startVm', vmv1.StartVmRequest.fromPartial({ ref: vmName, noWait: true }), { timeoutMs: 600_000 });
  if (verb === 'suspend') return fs.vmd.serverStream('suspendVm', { ref: vmName }, { timeoutMs: 600_000 });
  return fs.vmd.serverStream('snapshotVm', { ref: vmName, name: snapshotName }, { timeoutMs: 600_000 });
}

/**
 * A create, start, snapshot or suspend paused by the gate right after `stage`; the victim is killed
 * there. A killed vmd (or the database it owns) takes the operation with it; any other victim
 * dies while the operation waits, which then goes on without it, as when privhelper dies
 * mid-create. A snapshot held after `save` has its whole directory written under a row still
 * `creating`: killing vmd there leaves the most behind (the row, hundreds of MB of state and
 * disk copies) that only the janitor can remove. A suspend held after `save` has the VM's RAM
 * sealed on disk, its QEMU gone and its row still `suspending`.
 */
export async function stagedCell(fs: FaultStack, cell: Cell, vmName: string, snapshotName = ''): Promise<CellResult> {
  await fs.startVmd({ stage: cell.stage, kind: STAGED_KINDS[cell.verb] ?? '' });
  const stream = stagedCall(fs, cell.verb, vmName, snapshotName);
  const consumed = collect(stream);
  const held = fs.stack.waitForLog((l) => l.msg === 'stage gate holding' && l['stage'] === cell.stage, 300_000).then(() => undefined);
  const early = await Promise.race([held, consumed]);
  if (early) throw new Error(`${cell.verb} of ${vmName} ended before stage ${cell.stage}: ${String(early.error)}`);
  const opId = (await stream.opId) ?? '';
  const vmId = (await fs.vmd.unary('getVm', { ref: vmName, includeSecrets: false })).vm?.id ?? '';
  let toRestart = await kill(fs, cell.victim, vmId);
  if (toRestart !== 'vmd') await fs.release();
  if (toRestart === 'external database') {
    // The operation goes on against the dead server for a while, then it is back, as an operator brings it back.
    await sleep(3000);
    await restart(fs, toRestart);
    toRestart = undefined;
  }
  // It may also complete: a victim it no longer needs (imaged past preflight, privhelper after the agent stage).
  await consumed;
  // While vmd lives (and its database), its record lists what the failure could not undo, until the janitor did.
  const recordedLeftovers = toRestart === 'vmd' ? [] : ((await fs.vmd.unary('getOperation', { opId })).operation?.leftovers ?? []).map((r) => `${r.kind} ${r.id}`);
  const settled = await settle(fs, toRestart);
  const outcome = await recordedOutcome(fs, opId);
  const cleanedUnderOp = (fs.stack.daemons.vmd?.logs ?? []).filter((l) => l.msg === 'leftover cleaned up' && l.op_id === opId).map((l) => String(l['kind']));
  // Back to an ungated vmd for the next cell (after convergence was measured without it).
  if (toRestart !== 'vmd') await fs.startVmd();
  return { cell, outcome, opId, recordedLeftovers, cleanedUnderOp, ...settled };
}

/**
 * A unary verb (stop, delete, prune) has no stages and no operation record: the victim is killed
 * once the VM's row shows the verb in flight (stopping, deleting); the outcome is the call's own.
 */
function unaryCall(fs: FaultStack, verb: Verb, vmName: string): Promise<unknown> {
  if (verb === 'stop') return fs.vmd.unary('stopVm', vmv1.StopVmRequest.fromPartial({ ref: vmName, timeout: { seconds: 120 } }), { timeoutMs: 180_000 });
  if (verb === 'delete') return fs.vmd.unary('deleteVm', { ref: vmName, force: false }, { timeoutMs: 180_000 });
  if (verb === 'prune') return fs.vmd.unary('pruneVms', vmv1.PruneVmsRequest.fromPartial({ olderThan: { seconds: 0 } }), { timeoutMs: 180_000 });
  throw new Error(`${verb} is not a unary verb of the matrix`);
}

export async function unaryCell(fs: FaultStack, cell: Cell, vmName: string): Promise<CellResult> {
  const call = unaryCall(fs, cell.verb, vmName);
  const ended = call.then(
    () => 'completed',
    (e: unknown) => (e instanceof RpcError ? `failed ${e.reason}` : `failed ${String(e)}`),
  );
  let done = false;
  void ended.then(() => (done = true));
  const inFlight = cell.verb === 'stop' ? vmv1.VmState.VM_STATE_STOPPING : vmv1.VmState.VM_STATE_DELETING;
  const deadline = Date.now() + 60_000;
  while (!done && (await stateOf(fs, vmName)) !== inFlight) {
    if (Date.now() > deadline) throw new Error(`${vmName} never showed ${vmv1.vmStateToJSON(inFlight)}`);
    await sleep(20);
  }
  const vmId = (await fs.vmd.unary('getVm', { ref: vmName, includeSecrets: false }).catch(() => undefined))?.vm?.id ?? '';
  const toRestart = cell.victim === 'qemu' && !vmId ? undefined : await kill(fs, cell.victim, vmId);
  const outcome = await ended;
  const settled = await settle(fs, toRestart);
  return { cell, outcome: done && outcome === 'completed' ? 'completed' : outcome, ...settled };
}

/**
 * A kernel pull killed while it downloads and unpacks (its `.pull-*` work dir holds the .deb and
 * the unpacked package, hundreds of MB). The staged version is removed first so the pull really
 * works (its row stays; privhelper's store keeps the installed copy).
 */
export async function kernelPullCell(fs: FaultStack, cell: Cell): Promise<CellResult> {
  for (const name of await readdir(kernelStaging(fs)).catch(() => [] as string[])) await rm(join(kernelStaging(fs), name), { recursive: true, force: true });
  const stream = fs.images.serverStream('pullKernel', imagev1.PullKernelRequest.fromPartial({ name: TEST_KERNEL }), { timeoutMs: 600_000 });
  let ended = false;
  const consumed = collect(stream).finally(() => (ended = true));
  const deadline = Date.now() + 120_000;
  while ((await partialPulls(fs)).length === 0) {
    if (ended) throw new Error(`the kernel pull ended before its work dir appeared: ${String((await consumed).error)}`);
    if (Date.now() > deadline) throw new Error('no kernel pull work dir within 120 s');
    await sleep(50);
  }
  const opId = (await stream.opId) ?? '';
  const toRestart = await kill(fs, cell.victim, '');
  await consumed;
  const settled = await settle(fs, toRestart);
  return { cell, outcome: await imagedOutcome(fs, opId, 'kernel pull'), opId, ...settled };
}

/** How an imaged operation's record says it ended, after a fault: never still running. */
async function imagedOutcome(fs: FaultStack, opId: string, what: string): Promise<string> {
  const op = (await fs.images.unary('getOperation', { opId })).operation;
  if (!op || op.state === commonv1.OperationState.OPERATION_STATE_RUNNING) throw new Error(`${what} ${opId} has no final record`);
  if (op.state === commonv1.OperationState.OPERATION_STATE_SUCCEEDED) return 'completed';
  if (!op.error?.reason || !op.error.message) throw new Error(`${what} ${opId} ended ${op.state} without saying why`);
  return op.error.reason === 'INTERRUPTED' ? 'interrupted' : `failed ${op.error.reason}`;
}

/**
 * A forced rebuild of the default image, killed a moment into one step of its root filesystem
 * (privhelper's progress says which): its mkdtemp holds the unpacked base and, from `mkfs` on, a
 * partial image file of about a GB, and tools (tar, chroot, mkfs.ext4) work in it. The forced
 * build removed the old image first, so the VM verbs' `prepare` builds it again with the CLI.
 */
export async function imageBuildCell(fs: FaultStack, cell: Cell): Promise<CellResult> {
  const step = ROOTFS_STAGES.indexOf(cell.stage as (typeof ROOTFS_STAGES)[number]);
  const stream = fs.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: TEST_RECIPE, force: true }), { timeoutMs: 1_800_000 });
  let opId = '';
  const reached = (async (): Promise<string | undefined> => {
    let last = '';
    try {
      for await (const res of stream) {
        opId ||= res.event?.opId ?? '';
        const body = res.event?.body;
        if (body?.$case === 'progress' && body.value.stage === 'rootfs' && body.value.done === step) return undefined;
        if (body?.$case === 'failure') last = `${body.value.reason}: ${body.value.message}`;
      }
    } catch (err) {
      return String(err);
    }
    return last || 'it succeeded';
  })();
  const ended = await reached;
  if (ended !== undefined) throw new Error(`the image build ended before its ${cell.stage} step: ${ended}`);
  // Into the step, so it has written something (an unpacked tree, a partial image file).
  await sleep(1500);
  // The stream was left (a detached build goes on); the record says how it ended.
  const toRestart = await kill(fs, cell.victim, '', 'imaged');
  const settled = await settle(fs, toRestart);
  return { cell, outcome: await imagedOutcome(fs, opId, 'image build'), opId, ...settled };
}

export function table(results: readonly CellResult[]): string {
  const rows = results.map((r) => `| ${r.cell.verb} | ${r.cell.stage} | ${r.cell.victim} | ${r.cell.why ?? ''} | ${r.outcome} | ${r.leftAtRestart.join(', ') || 'none'} | ${(r.convergeMs / 1000).toFixed(1)} s |`);
  return ['| verb | stage | victim | why this cell | outcome | left at restart | converged in |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
}
