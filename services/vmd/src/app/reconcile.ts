import { BangerError } from '@banger/runtime';
import type { Operation, VmRecord } from '@banger/store';
import type { Logger } from 'pino';
import type { HostHelper } from '../ports/host.js';
import type { VmWriter } from './vm-writer.js';

export interface ReconcileDeps {
  vms: VmWriter & { list(): Promise<VmRecord[]> };
  host: HostHelper;
  logger: Logger;
}

export interface ReconcileReport {
  cleaned: { opId: string; kind: string; ref: string; ok: boolean }[];
  rediscovered: string[];
  vanished: string[];
}

const UNDO_ORDER = ['process', 'work_disk', 'overlay', 'tap', 'dns_record', 'row'];

/**
 * Start-up reconciliation, before serving: undo what interrupted operations left behind (in
 * the reverse order of creation), then align every VM row with what really runs: VMs whose
 * QEMU is still alive stay running (they outlive vmd by design), vanished ones become
 * stopped. Logs what it did.
 */
export async function reconcile(deps: ReconcileDeps, interrupted: readonly Operation[]): Promise<ReconcileReport> {
  const { host, vms, logger } = deps;
  const report: ReconcileReport = { cleaned: [], rediscovered: [], vanished: [] };

  for (const op of interrupted) {
    const vmId = op.resources.find((r) => r.kind === 'row')?.ref ?? op.target;
    const ordered = [...op.resources].sort((a, b) => UNDO_ORDER.indexOf(a.kind) - UNDO_ORDER.indexOf(b.kind));
    for (const r of ordered) {
      try {
        if (r.kind === 'process') await host.kill(vmId);
        else if (r.kind === 'work_disk') await host.removeWorkDisk(r.ref);
        else if (r.kind === 'overlay') await host.removeRootOverlay(r.ref);
        else if (r.kind === 'tap') await host.releaseTap(vmId);
        else if (r.kind === 'row') await vms.delete(r.ref).catch((err: unknown) => {
          if (!(err instanceof BangerError && err.code === 'NOT_FOUND')) throw err;
        });
        else if (r.kind === 'dns_record') await host.syncDns((await vms.dnsRecords()).filter((d) => d.name !== r.ref));
        report.cleaned.push({ opId: op.opId, kind: r.kind, ref: r.ref, ok: true });
      } catch (err) {
        logger.error({ err, op_id: op.opId, kind: r.kind, ref: r.ref }, 'could not clean up after interrupted operation');
        report.cleaned.push({ opId: op.opId, kind: r.kind, ref: r.ref, ok: false });
      }
    }
  }

  for (const vm of await vms.list()) {
    if (vm.state === 'stopped' || vm.state === 'error') continue;
    const proc = await host.find(vm.id);
    if (proc) {
      report.rediscovered.push(vm.id);
      await vms.update(vm.id, { state: 'running', pid: proc.pid, runtime: { ...vm.runtime, agentSocket: proc.agentSocket, consoleLog: proc.consoleLog } });
    } else {
      report.vanished.push(vm.id);
      await vms.update(vm.id, { state: 'stopped', pid: null, stoppedAt: new Date() });
    }
  }
  if (report.cleaned.length + report.rediscovered.length + report.vanished.length > 0) {
    await host.syncDns(await vms.dnsRecords()).catch((err: unknown) => logger.warn({ err }, 'dns resync after reconciliation failed'));
  }
  logger.info(
    { cleaned: report.cleaned.length, rediscovered: report.rediscovered, vanished: report.vanished, failed_cleanups: report.cleaned.filter((c) => !c.ok).length },
    'reconciled with the host',
  );
  return report;
}
