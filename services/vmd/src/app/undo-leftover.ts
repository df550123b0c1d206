import type { OperationResource } from '@banger/store/operations';
import type { HostHelper } from '../ports/host.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import type { VmRepository } from '../ports/vms.js';
import { giveBackTap } from './give-back-tap.js';

/**
 * Reverse order of creation: the process holds the disks and the tap, the row goes last. A
 * fork's internal snapshot and image warm's template VM (recorded by name before they are made)
 * come after the clone's or template's own create resources.
 */
export const UNDO_ORDER = ['process', 'work_disk', 'overlay', 'tap', 'dns_record', 'row', 'template_vm', 'snapshot'];

/** Kinds only their own operation ever owns: never adopted by a VM, always removed when left. */
export const INTERNAL_KINDS: readonly string[] = ['template_vm', 'snapshot'];

export interface UndoDeps {
  host: HostHelper;
  vms: VmRepository;
  /** For `snapshot` leftovers (a fork's internal snapshot). */
  snapshots?: Pick<SnapshotRepository, 'findByName' | 'delete'>;
  snapshotHost?: Pick<SnapshotHost, 'deleteSnapshot'>;
}

export function inUndoOrder<T extends { kind: string }>(resources: readonly T[]): T[] {
  return [...resources].sort((a, b) => UNDO_ORDER.indexOf(a.kind) - UNDO_ORDER.indexOf(b.kind));
}

/**
 * Undoes one resource an operation recorded, with the idempotent privhelper verb for its kind,
 * so start-up reconciliation and the janitor retry exactly the same step. A `row` takes with it
 * whatever privhelper still holds for that VM.
 */
export async function undoLeftover(deps: UndoDeps, vmId: string, r: Pick<OperationResource, 'kind' | 'ref'>): Promise<void> {
  const { host, vms } = deps;
  if (r.kind === 'process') await host.kill(vmId);
  else if (r.kind === 'work_disk') await host.removeWorkDisk({ vmId, path: r.ref });
  else if (r.kind === 'overlay') await host.removeRootOverlay({ vmId, path: r.ref });
  else if (r.kind === 'tap') await giveBackTap({ host, vms }, vmId);
  else if (r.kind === 'dns_record') await host.syncDns((await vms.dnsRecords()).filter((d) => d.name !== r.ref));
  else if (r.kind === 'row') {
    await host.releaseVm(vmId);
    await vms.delete(r.ref);
  } else if (r.kind === 'template_vm') {
    const vm = await vms.findByName(r.ref);
    if (vm) {
      await host.releaseVm(vm.id);
      await vms.delete(vm.id);
    }
  } else if (r.kind === 'snapshot') {
    const { snapshots, snapshotHost } = deps;
    if (!snapshots || !snapshotHost) throw new Error(`no snapshot store to remove snapshot ${r.ref} with`);
    const s = await snapshots.findByName(r.ref);
    if (s) {
      await snapshotHost.deleteSnapshot(s.id);
      await snapshots.delete(s.id);
    }
  } else throw new Error(`no undo step for a resource of kind ${r.kind}`);
}
