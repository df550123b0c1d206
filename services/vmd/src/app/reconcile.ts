import { log } from '@banger/runtime/logging';
import type { Operation, OperationResource } from '@banger/store/operations';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';
import { alignWithHost } from './align-with-host.js';
import { inUndoOrder, undoLeftover, type UndoDeps } from './undo-leftover.js';

export interface ReconcileReport {
  cleaned: { opId: string; kind: string; ref: string; ok: boolean }[];
  rediscovered: string[];
  vanished: string[];
}

/** The VM a resource belongs to: recorded with it, else (older operations) the row's id or the target. */
export function vmIdOf(op: Operation, r: OperationResource): string {
  const recorded = r.detail?.['vm_id'];
  if (typeof recorded === 'string' && recorded) return recorded;
  return op.resources.find((x) => x.kind === 'row')?.ref ?? op.target;
}

/**
 * Start-up reconciliation: undo what interrupted operations left behind (in the reverse order
 * of creation), then align every VM with what really runs: VMs whose hypervisor is still alive
 * stay running (they outlive vmd by design), vanished ones become stopped. Logs what it did.
 */
export class Reconcile {
  constructor(
    private readonly deps: UndoDeps & {
      vms: VmRepository;
      host: HostHelper;
      /** Forgets a cleaned resource on its operation's record (the janitor retries the rest). */
      release?: (opId: string, kind: string, ref: string) => Promise<void>;
    },
  ) {}

  async run(interrupted: readonly Operation[]): Promise<ReconcileReport> {
    const { host, vms } = this.deps;
    const report: ReconcileReport = { cleaned: [], rediscovered: [], vanished: [] };

    for (const op of interrupted) {
      for (const r of inUndoOrder(op.resources)) {
        const vmId = vmIdOf(op, r);
        try {
          await undoLeftover(this.deps, vmId, r);
          await this.deps.release?.(op.opId, r.kind, r.ref);
          report.cleaned.push({ opId: op.opId, kind: r.kind, ref: r.ref, ok: true });
        } catch (err) {
          log().error({ err, op_id: op.opId, kind: r.kind, ref: r.ref }, 'could not clean up after interrupted operation');
          report.cleaned.push({ opId: op.opId, kind: r.kind, ref: r.ref, ok: false });
        }
      }
    }

    for (const vm of await vms.list()) {
      // A suspended VM has no process by design: its saved state is on disk.
      if (vm.state === 'stopped' || vm.state === 'error' || vm.state === 'suspended') continue;
      const to = await alignWithHost(this.deps, vm);
      if (to === 'running' || to === 'paused') report.rediscovered.push(vm.id);
      else report.vanished.push(vm.id);
    }
    if (report.cleaned.length + report.rediscovered.length + report.vanished.length > 0) {
      await host.syncDns(await vms.dnsRecords()).catch((err: unknown) => log().warn({ err }, 'dns resync after reconciliation failed'));
    }
    log().info(
      { cleaned: report.cleaned.length, rediscovered: report.rediscovered, vanished: report.vanished, failed_cleanups: report.cleaned.filter((c) => !c.ok).length },
      'reconciled with the host',
    );
    return report;
  }
}
