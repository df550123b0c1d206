import { randomBytes } from 'node:crypto';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, toBangerError } from '@banger/runtime/errors';
import { failureEvent, StageFailure, StageRunner, type OpEventBody } from '@banger/runtime/ops';
import { log } from '@banger/runtime/logging';
import { validateVmName } from '../domain/names.js';
import { vmToJson } from '../domain/vm.js';
import type { OperationHandle } from '../ports/operation.js';
import type { CreateVmFromSnapshot, CreateVmFromSnapshotDeps } from './create-from-snapshot.js';
import { findVm } from './find-vm.js';
import type { SnapshotVm } from './snapshot.js';

/** Most clones one fork starts; a larger fleet is several forks (each clone costs a VM's memory). */
export const MAX_FORK_COUNT = 16;
/** Clones restored at once; the rest wait for a slot. */
const PARALLEL = 4;

export interface ForkCommand {
  ref: string;
  count: number;
  /** '' for the source's name. */
  prefix: string;
  noWait: boolean;
}

/** A clone that did not come up: rolled back by its own create, nothing of it left. */
export interface ForkFailure {
  name: string;
  stage: string;
  reason: string;
  message: string;
}

/** The clone names a fork makes (PREFIX-1..PREFIX-K), validated before anything is done. */
export function forkNames(count: number, prefix: string): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_FORK_COUNT) throw new InvalidArgumentError('count', `must be between 1 and ${MAX_FORK_COUNT}, got ${count}`, 'INVALID_COUNT');
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
  for (const n of names) {
    try {
      validateVmName(n, 'prefix');
    } catch (err) {
      throw new InvalidArgumentError('prefix', `makes the clone name ${JSON.stringify(n)}, which is not a valid VM name (a DNS label of at most 63 characters)`, 'INVALID_NAME', { cause: err });
    }
  }
  return names;
}

/**
 * The events of one clone's create inside the fork's stream: its stages are named CLONE:STAGE
 * so a watcher sees which clone each is; its own accepted/result/failure are the fork's to
 * report (a failure event mid-stream would end every client's stream).
 */
function cloneHandle(op: OperationHandle, name: string): OperationHandle {
  const emit = async (e: OpEventBody): Promise<void> => {
    if (e.type === 'accepted' || e.type === 'result' || e.type === 'failure') return;
    await op.emit({ ...e, stage: `${name}:${e.stage}` });
  };
  return { opId: op.opId, signal: op.signal, emit, recordResource: (k, r, d) => op.recordResource(k, r, d), releaseResource: (k, r) => op.releaseResource(k, r) };
}

/** The internal snapshot's events: its stage is the fork's `snapshot`; its result carries the pause. */
function snapshotHandle(op: OperationHandle, onResult: (r: Record<string, unknown>) => void): OperationHandle {
  const emit = async (e: OpEventBody): Promise<void> => {
    if (e.type === 'result') return onResult(e.result);
    if (e.type === 'accepted' || e.type === 'failure') return;
    await op.emit('stage' in e ? { ...e, stage: 'snapshot' } : e);
  };
  return { opId: op.opId, signal: op.signal, emit, recordResource: (k, r, d) => op.recordResource(k, r, d), releaseResource: (k, r) => op.releaseResource(k, r) };
}

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: Math.min(width, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

/**
 * ForkVm: an internal snapshot of a running VM (which keeps running), K clones restored from it
 * in parallel, each with its own identity, then the snapshot deleted (clones own copies of its
 * disks, so nothing needs it once they restored). A clone that fails is rolled back by its own
 * create and reported; the ones that came up stay. Every clone failing fails the fork.
 */
export class ForkVm {
  constructor(
    private readonly deps: Pick<CreateVmFromSnapshotDeps, 'vms' | 'snapshots' | 'snapshotHost'>,
    private readonly snapshotVm: Pick<SnapshotVm, 'run'>,
    private readonly createFromSnapshot: Pick<CreateVmFromSnapshot, 'run'>,
  ) {}

  async run(cmd: ForkCommand, op: OperationHandle): Promise<{ targetId: string; vmId: string }> {
    const { vms, snapshots } = this.deps;
    const stages = new StageRunner((e) => op.emit(e));
    let snapshotId = '';
    const snapName = `fork-${randomBytes(6).toString('hex')}`;
    try {
      const source = await findVm(vms, cmd.ref);
      const names = forkNames(cmd.count, cmd.prefix || source.name);
      for (const n of names) if ((await vms.findByName(n)) !== undefined) throw new AlreadyExistsError('vm', n, 'VM_NAME_TAKEN', { fields: { field: 'prefix' } });
      await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_fork', target: source.name, targetId: source.id });
      let pauseMs = 0;
      // Recorded by name before it exists: a vmd killed mid-fork leaves it to reconciliation or the janitor.
      await op.recordResource('snapshot', snapName, { vm_id: source.id });
      await this.snapshotVm.run({ ref: source.id, name: snapName }, snapshotHandle(op, (r) => (pauseMs = Number(r['pause_ms'] ?? 0))));
      snapshotId = (await snapshots.findByName(snapName))?.id ?? '';
      const clones = new Map<string, string>();
      const failed: ForkFailure[] = [];
      await pool(names, PARALLEL, async (name) => {
        try {
          const { vmId } = await this.createFromSnapshot.run({ snapshot: snapName, name, noWait: cmd.noWait }, cloneHandle(op, name));
          clones.set(name, vmId);
        } catch (err) {
          const e = toBangerError(err instanceof StageFailure ? err.error : err);
          failed.push({ name, stage: err instanceof StageFailure ? err.stage : '', reason: e.reason, message: e.message });
          await op.emit({ type: 'log_line', stage: `${name}:failed`, stream: 'stderr', line: `clone ${name} failed and was rolled back: ${e.message}` });
        }
      });
      await stages.run('release', `delete the fork's internal snapshot ${snapName}`, () => this.dropSnapshot(snapshotId));
      snapshotId = '';
      await op.releaseResource('snapshot', snapName);
      if (clones.size === 0) {
        const first = failed[0];
        throw new FailedPreconditionError('FORK_FAILED', `no clone of ${source.name} came up${first ? ` (${first.name}: ${first.message})` : ''}`, { fields: { vm: source.name } });
      }
      const up = await Promise.all(names.filter((n) => clones.has(n)).map((n) => vms.getById(clones.get(n) ?? '')));
      const order = (f: ForkFailure): number => names.indexOf(f.name);
      await op.emit({ type: 'result', result: { fork: { source: source.name, clones: up.map(vmToJson), failed: failed.sort((a, b) => order(a) - order(b)), pauseMs } } });
      return { targetId: source.id, vmId: source.id };
    } catch (err) {
      // A failed snapshot removed its own row; a drop that fails stays on the record for the janitor.
      await this.dropSnapshot(snapshotId).then(
        () => op.releaseResource('snapshot', snapName),
        (e: unknown) => log().warn({ err: e, snapshot_id: snapshotId }, 'could not delete the fork snapshot; the janitor retries'),
      ).catch(() => undefined);
      await op.emit(failureEvent(err, op.opId));
      throw err;
    }
  }

  private async dropSnapshot(id: string): Promise<void> {
    if (id === '') return;
    await this.deps.snapshotHost.deleteSnapshot(id);
    await this.deps.snapshots.delete(id);
  }
}
