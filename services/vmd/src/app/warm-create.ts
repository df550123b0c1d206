import { toBangerError } from '@banger/runtime/errors';
import { StageFailure } from '@banger/runtime/ops';
import { log } from '@banger/runtime/logging';
import { chooseCreatePath, type CreatePath } from '../domain/create-path.js';
import type { CreateVmCommand } from '../domain/create-request.js';
import type { Snapshot } from '../domain/snapshot.js';
import { vmToJson } from '../domain/vm.js';
import type { HostHelper, HostReadiness } from '../ports/host.js';
import type { ImageCatalog, ResolvedImage } from '../ports/images.js';
import type { OperationHandle } from '../ports/operation.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import type { VmRepository } from '../ports/vms.js';
import type { CreateVmFromSnapshot } from './create-from-snapshot.js';
import { removeSnapshot } from './delete-snapshot.js';
import { InnerOperation } from './inner-operation.js';

export interface WarmCreateDeps {
  vms: VmRepository;
  images: ImageCatalog;
  host: Pick<HostHelper, 'readiness'>;
  snapshots: SnapshotRepository;
  snapshotHost: SnapshotHost;
  fromSnapshot: Pick<CreateVmFromSnapshot, 'run'>;
}

/**
 * What the path stage already asked imaged and privhelper, settled, so a cold create's preflight
 * does not ask again (each create asked both twice). Failures are kept too: preflight reports
 * them, as it did when it asked itself.
 */
export interface PathAnswers {
  image: PromiseSettledResult<ResolvedImage>;
  readiness: PromiseSettledResult<HostReadiness>;
}

/** What a warm attempt ended with: the VM it made, or why the create boots instead (and what it learnt). */
export type WarmOutcome = { vmId: string; targetId: string } | { cold: string; answers?: PathAnswers };

/**
 * The warm half of a default create: chooses the path (create-path.ts), reports it as the
 * `path` stage, deletes warm snapshots that can never serve again, and restores the matching
 * one through CreateVmFromSnapshot. A restore privhelper refuses as STATE_INCOMPATIBLE (the
 * host's QEMU, CPU model... changed) discards that snapshot and answers `cold` with the reason,
 * after the clone was rolled back, so the caller boots; any other failure is the create's.
 */
export class WarmCreate {
  constructor(private readonly deps: WarmCreateDeps) {}

  async attempt(cmd: CreateVmCommand, op: OperationHandle): Promise<WarmOutcome> {
    const started = performance.now();
    // Started before the questions are asked, so a host that does not answer holds this stage.
    await op.emit({ type: 'stage_started', stage: 'path', description: 'warm snapshot or boot', startedAt: new Date().toISOString() });
    const { choice, answers } = await this.choose(cmd);
    await this.finishPath(op, choice.reason, started);
    await this.discard(choice.discard);
    if (choice.path === 'cold') return { cold: choice.reason, answers };
    const inner = new InnerOperation(op);
    const image = answers.image.status === 'fulfilled' && answers.image.value.id === choice.snapshot.imageId ? answers.image.value : undefined;
    try {
      const made = await this.deps.fromSnapshot.run({ snapshot: choice.snapshot.id, name: cmd.name, noWait: cmd.noWait, ...(image ? { image } : {}) }, inner);
      const vm = await this.deps.vms.getById(made.vmId);
      const recorded = await this.deps.vms.update(vm.id, { spec: { ...vm.spec, createPath: choice.reason } });
      await op.emit({ type: 'result', result: { ...(inner.result?.result ?? {}), vm: vmToJson(recorded) } });
      return made;
    } catch (err) {
      const e = toBangerError(err instanceof StageFailure ? err.error : err);
      if (e.reason !== 'STATE_INCOMPATIBLE') {
        if (inner.failure !== undefined) await op.emit(inner.failure);
        throw err;
      }
      await this.discard([choice.snapshot]);
      const reason = `cold: warm snapshot ${choice.snapshot.name} incompatible with this host (${e.message})`;
      await op.emit({ type: 'stage_started', stage: 'path', description: reason, startedAt: new Date().toISOString() });
      await this.finishPath(op, reason, performance.now());
      return { cold: reason, answers };
    }
  }

  /** A create whose image cannot be resolved, or whose host cannot be asked, boots: its preflight then says what is wrong. */
  private async choose(cmd: CreateVmCommand): Promise<{ choice: CreatePath; answers: PathAnswers }> {
    const { images, host, snapshots } = this.deps;
    const [image, readiness, all] = await Promise.allSettled([images.resolve(cmd.image, cmd.kernel), host.readiness(), snapshots.list()]);
    const answers = { image, readiness };
    if (image.status === 'rejected') return { choice: { path: 'cold', reason: `cold: image ${cmd.image} did not resolve`, discard: [] }, answers };
    if (readiness.status === 'rejected' || all.status === 'rejected') return { choice: { path: 'cold', reason: 'cold: warm snapshots could not be checked', discard: [] }, answers };
    return { choice: chooseCreatePath(cmd, image.value, all.value, readiness.value.accel), answers };
  }

  private async finishPath(op: OperationHandle, reason: string, started: number): Promise<void> {
    await op.emit({ type: 'stage_finished', stage: 'path', durationMs: Math.round(performance.now() - started), ok: true, message: reason });
  }

  /** Best effort: a snapshot that cannot go now is chosen against again, and discarded, next time. */
  private async discard(stale: readonly Snapshot[]): Promise<void> {
    for (const s of stale) {
      await removeSnapshot(this.deps, s).catch((err: unknown) => log().warn({ err, snapshot: s.name }, 'could not discard a warm snapshot that no longer matches'));
    }
  }
}
