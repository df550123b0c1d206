import { randomBytes } from 'node:crypto';
import { failureEvent, StageRunner } from '@banger/runtime/ops';
import { log } from '@banger/runtime/logging';
import { shapeLabel } from '../domain/create-path.js';
import type { CreateVmCommand } from '../domain/create-request.js';
import { snapshotToJson, type Snapshot } from '../domain/snapshot.js';
import type { OperationHandle } from '../ports/operation.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import type { VmRepository } from '../ports/vms.js';
import type { CreateVm } from './create.js';
import type { DeleteVm } from './delete.js';
import { removeSnapshot } from './delete-snapshot.js';
import { InnerOperation } from './inner-operation.js';
import type { SnapshotVm } from './snapshot.js';

const GIB = 1024 ** 3;

export interface WarmImageDeps {
  vms: VmRepository;
  snapshots: SnapshotRepository;
  snapshotHost: SnapshotHost;
  create: Pick<CreateVm, 'run'>;
  snapshot: Pick<SnapshotVm, 'run'>;
  deleteVm: Pick<DeleteVm, 'run'>;
}

/** The template VM's name: never a user's, and free to reuse once the warm ends. */
export function templateName(): string {
  return `warm-template-${randomBytes(4).toString('hex')}`;
}

/** `warm-debian-bookworm-1024m-2c-8g-1a2b3c`: readable in `snapshot list`, unique per warm. */
export function warmSnapshotName(imageName: string, shape: Pick<CreateVmCommand, 'memoryMib' | 'vcpus' | 'workDiskBytes'>): string {
  const image = imageName.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 28).replace(/-+$/, '');
  return `warm-${image}-${shape.memoryMib}m-${shape.vcpus}c-${Math.ceil(shape.workDiskBytes / GIB)}g-${randomBytes(3).toString('hex')}`;
}

/**
 * WarmImage (`banger image warm`): makes the warm snapshot a default create of this image and
 * shape restores from. A template VM is booted cold and its services awaited unless `noWait`
 * (CreateVm's stages), snapshotted as kind `warm` (SnapshotVm's stage), then deleted; older warm snapshots
 * of the same image and shape are replaced last, so a create always finds one. A failure
 * deletes the template VM, and SnapshotVm removes its own partial snapshot.
 */
export class WarmImage {
  constructor(private readonly deps: WarmImageDeps) {}

  async run(cmd: CreateVmCommand, op: OperationHandle): Promise<{ targetId: string }> {
    const { vms, snapshots, create, snapshot, deleteVm } = this.deps;
    const stages = new StageRunner((e) => op.emit(e));
    const inner = new InnerOperation(op);
    let templateId = '';
    await op.emit({ type: 'accepted', opId: op.opId, kind: 'image_warm', target: cmd.image });
    try {
      // Recorded by name before it exists: a vmd killed mid-warm leaves the template to reconciliation or the janitor.
      await op.recordResource('template_vm', cmd.name, {});
      // Shared RAM: the warm snapshot is then a template whose pages every clone shares (docs/snapshots.md).
      templateId = (await create.run({ ...cmd, cold: true, sharedRam: true }, inner)).vmId;
      const template = await vms.getById(templateId);
      const image = template.spec.image;
      const name = warmSnapshotName(image.name, cmd);
      await snapshot.run({ ref: templateId, name, kind: 'warm' }, inner);
      const made = await snapshots.findByRef(name);
      await stages.run('cleanup', `delete the template VM ${template.name}`, async () => void (await deleteVm.run({ ref: templateId, stopTimeoutMs: 0 })));
      templateId = '';
      await op.releaseResource('template_vm', cmd.name);
      const older = (await snapshots.list()).filter((s) => s.kind === 'warm' && s.id !== made.id && s.imageName === made.imageName && s.memoryMib === made.memoryMib && s.vcpus === made.vcpus && s.workDiskGib === made.workDiskGib);
      if (older.length > 0) await stages.run('replace', `delete ${older.length} older warm snapshot(s) of ${image.name} ${shapeLabel(cmd)}`, () => this.removeAll(older));
      await op.emit({ type: 'result', result: { snapshot: snapshotToJson(made), pause_ms: made.files?.pauseMs ?? 0, state_bytes: made.files?.stateBytes ?? 0, size_bytes: made.files?.sizeBytes ?? 0 } });
      return { targetId: made.id };
    } catch (err) {
      const id = templateId;
      // A template the create rolled back is gone already; one whose delete fails stays on the record for the janitor.
      await (id === '' ? Promise.resolve() : deleteVm.run({ ref: id, stopTimeoutMs: 0 })).then(
        () => op.releaseResource('template_vm', cmd.name),
        (e: unknown) => log().warn({ err: e, vm_id: id }, 'could not delete the warm template VM; the janitor retries'),
      ).catch(() => undefined);
      await op.emit(inner.failure ?? failureEvent(err, op.opId));
      throw err;
    }
  }

  private async removeAll(older: readonly Snapshot[]): Promise<void> {
    for (const s of older) await removeSnapshot(this.deps, s);
  }
}
