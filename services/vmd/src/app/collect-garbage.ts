import type { OperationLog } from '@banger/operations/app';
import { log } from '@banger/runtime/logging';
import type { Operation } from '@banger/store/operations';
import type { Vm } from '../domain/vm.js';
import type { HeldVm, HostHelper } from '../ports/host.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import type { VmRepository } from '../ports/vms.js';
import { TRANSIENT, alignWithHost } from './align-with-host.js';
import { describeFence, describeHeld, leftoverOwner, vmIdsInFlight } from './gc-ownership.js';
import { SnapshotGarbage, snapshotSpace, type GcSnapshot, type GcSpace } from './gc-snapshots.js';
import { vmIdOf } from './reconcile.js';
import { inUndoOrder, undoLeftover } from './undo-leftover.js';
import type { VmLocks } from './vm-locks.js';

/** removed/adopted: done (the record forgets it); the others are retried on the next pass. */
export type GcAction = 'removed' | 'adopted' | 'would_remove' | 'busy' | 'grace' | 'failed';

export interface GcLeftover {
  opId: string;
  kind: string;
  ref: string;
  vmId: string;
  action: GcAction;
  detail: string;
}

export interface GcOrphan {
  vmId: string;
  /** What privhelper holds for it (`tap bt3`, `disk dir (root.qcow2.partial)`...). */
  held: string[];
  /** `vm`: everything (no row); `tap`: a stopped VM's tap and fence only. */
  scope: 'vm' | 'tap';
  action: GcAction;
  detail: string;
  graceLeftMs: number;
}

export interface GcReport {
  dryRun: boolean;
  leftovers: GcLeftover[];
  orphans: GcOrphan[];
  /** DNS records privhelper served that no VM row has (or rows it did not serve). */
  dnsDrift: string[];
  /** VMs left in a transient state with nothing in flight, and the state they were given. */
  realigned: { vmId: string; name: string; from: string; to: string }[];
  /** Snapshot files no row owns, and rows a dead snapshot left `creating`. */
  snapshots: GcSnapshot[];
  /** What snapshots and saved states occupy (unset while privhelper cannot be asked). */
  space: GcSpace | undefined;
  /** False when privhelper could not be asked; the janitor then retries soon. */
  helperReachable: boolean;
  /** Something still needs a later pass (failed, busy, in grace, privhelper down). */
  pending: boolean;
}

export interface CollectGarbageDeps {
  vms: VmRepository;
  host: HostHelper;
  operations: Pick<OperationLog, 'list' | 'releaseResource'>;
  locks: VmLocks;
  snapshots: SnapshotRepository;
  snapshotHost: Pick<SnapshotHost, 'deleteSnapshot'>;
  /** An orphan must be seen this long before it is removed ([vmd] gc_grace_seconds). */
  graceMs: number;
  now?: () => number;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * `banger system gc` and the janitor's pass: retries every leftover a failed or interrupted
 * operation recorded (logged under that operation's id, forgotten by its record once gone),
 * then asks privhelper what it holds and removes what no VM and no running operation owns,
 * once it has been seen for the grace period. Nothing is touched under a busy VM lock.
 */
export class CollectGarbage {
  /** First sighting of each orphan (vmId:scope), so the grace outlives one pass. */
  private readonly firstSeen = new Map<string, number>();
  private readonly snapshotGc: SnapshotGarbage;

  constructor(private readonly deps: CollectGarbageDeps) {
    this.snapshotGc = new SnapshotGarbage(deps);
  }

  async run(opts: { dryRun: boolean }): Promise<GcReport> {
    const { dryRun } = opts;
    const report: GcReport = { dryRun, leftovers: [], orphans: [], dnsDrift: [], realigned: [], snapshots: [], space: undefined, helperReachable: true, pending: false };
    const [finished, running] = await Promise.all([
      this.deps.operations.list({ state: ['failed', 'cancelled'], limit: 1000 }),
      this.deps.operations.list({ state: 'running', limit: 1000 }),
    ]);
    const inFlight = vmIdsInFlight(running);
    for (const op of finished.filter((o) => o.resources.length > 0)) await this.leftoversOf(op, inFlight, report);
    await this.stranded(inFlight, report);
    await this.orphans(inFlight, running, report);
    report.pending = report.leftovers.some((l) => l.action !== 'removed' && l.action !== 'adopted') || report.orphans.length > 0 || report.snapshots.some((x) => x.action !== 'removed') || (dryRun && report.realigned.length > 0) || report.dnsDrift.length > 0 || !report.helperReachable;
    if (dryRun) report.pending ||= report.leftovers.length > 0;
    return report;
  }

  private async leftoversOf(op: Operation, inFlight: Set<string>, report: GcReport): Promise<void> {
    const { vms, locks, operations } = this.deps;
    const leftRow = op.resources.some((r) => r.kind === 'row');
    for (const r of inUndoOrder(op.resources)) {
      const vmId = vmIdOf(op, r);
      const item: GcLeftover = { opId: op.opId, kind: r.kind, ref: r.ref, vmId, action: 'failed', detail: '' };
      report.leftovers.push(item);
      if (locks.isBusy(vmId) || inFlight.has(vmId)) {
        item.action = 'busy';
        item.detail = 'an operation on the VM is in flight';
        continue;
      }
      if (!report.helperReachable) {
        item.detail = 'privhelper unreachable';
        continue;
      }
      try {
        await locks.with(vmId, 'gc', async () => {
          const vm = await vms.getById(vmId).catch(() => undefined);
          const owner = leftoverOwner(r, vm, leftRow);
          if (report.dryRun) {
            item.action = owner === 'vm' ? 'adopted' : 'would_remove';
            item.detail = owner === 'vm' ? `vm ${vm?.name ?? vmId} owns it now` : '';
            return;
          }
          if (owner === 'nobody') await undoLeftover(this.deps, vmId, r);
          await operations.releaseResource(op.opId, r.kind, r.ref);
          item.action = owner === 'vm' ? 'adopted' : 'removed';
          log().info({ op_id: op.opId, kind: r.kind, ref: r.ref, vm_id: vmId, action: item.action }, 'leftover cleaned up');
        });
      } catch (err) {
        item.action = (err as { reason?: string }).reason === 'VM_BUSY' ? 'busy' : 'failed';
        item.detail = errText(err);
        if ((err as { reason?: string }).reason === 'HELPER_UNAVAILABLE') report.helperReachable = false;
        log().warn({ err, op_id: op.opId, kind: r.kind, ref: r.ref, vm_id: vmId }, 'leftover cleanup failed; retried on the next pass');
      }
    }
  }

  /**
   * A VM an operation left `stopping`, `deleting`... when it failed half-way (privhelper died
   * under a stop) is aligned with the host, as start-up reconciliation would: running if its
   * hypervisor lives, else stopped. Never under a busy lock or while an operation could own it.
   */
  private async stranded(inFlight: Set<string>, report: GcReport): Promise<void> {
    const { vms, locks, host } = this.deps;
    if (!report.helperReachable) return;
    for (const vm of await vms.list({ states: [...TRANSIENT] })) {
      if (locks.isBusy(vm.id) || inFlight.has(vm.id) || inFlight.has(vm.name)) continue;
      if (report.dryRun) {
        report.realigned.push({ vmId: vm.id, name: vm.name, from: vm.state, to: '' });
        continue;
      }
      try {
        await locks.with(vm.id, 'gc', async () => {
          const now = await vms.getById(vm.id);
          if (!TRANSIENT.includes(now.state)) return;
          const to = await alignWithHost({ vms, host }, now);
          report.realigned.push({ vmId: vm.id, name: vm.name, from: now.state, to });
          log().info({ vm_id: vm.id, from: now.state, to }, 'vm left in a transient state aligned with the host');
        });
      } catch (err) {
        if ((err as { reason?: string }).reason === 'HELPER_UNAVAILABLE') report.helperReachable = false;
        log().warn({ err, vm_id: vm.id }, 'could not align a stranded vm with the host; retried on the next pass');
      }
    }
  }

  private async orphans(inFlight: Set<string>, running: readonly Operation[], report: GcReport): Promise<void> {
    const { host, vms } = this.deps;
    if (!report.helperReachable) return;
    let held: Awaited<ReturnType<HostHelper['listHeld']>>;
    try {
      held = await host.listHeld();
    } catch (err) {
      report.helperReachable = false;
      log().warn({ err }, 'cannot ask privhelper what it holds; retried on the next pass');
      return;
    }
    const rows = await vms.list();
    const byId = new Map(rows.map((v) => [v.id, v]));
    const seen = new Set<string>();
    for (const h of held.vms) {
      const vm = byId.get(h.vmId);
      const scope = vm ? 'tap' : 'vm';
      // A stopped VM holds no tap and no fence: either is released (ReleaseTap unfences too).
      if (vm && !((h.tap || h.fenceIpv4) && (vm.state === 'stopped' || vm.state === 'error'))) continue;
      const key = `${h.vmId}:${scope}`;
      seen.add(key);
      report.orphans.push(await this.orphan(h, vm, scope, key, inFlight, report.dryRun));
    }
    for (const key of [...this.firstSeen.keys()]) if (!seen.has(key)) this.firstSeen.delete(key);
    report.space = snapshotSpace(held);
    report.snapshots = await this.snapshotGc.run(held.snapshots, running, report.dryRun);
    // The record set is written whole: while an operation or a locked call may be changing the
    // rows (a create rolling back its record), a resync could write back a name it just removed.
    await this.dns(held.dnsRecords, report, inFlight.size > 0 || this.deps.locks.anyBusy());
  }

  private async orphan(h: HeldVm, vm: Vm | undefined, scope: 'vm' | 'tap', key: string, inFlight: Set<string>, dryRun: boolean): Promise<GcOrphan> {
    const now = (this.deps.now ?? Date.now)();
    const first = this.firstSeen.get(key) ?? now;
    this.firstSeen.set(key, first);
    const o: GcOrphan = { vmId: h.vmId, held: scope === 'vm' ? describeHeld(h) : [...(h.tap ? [`tap ${h.tap}`] : []), ...describeFence(h)], scope, action: 'grace', detail: '', graceLeftMs: Math.max(0, first + this.deps.graceMs - now) };
    if (this.deps.locks.isBusy(h.vmId) || inFlight.has(h.vmId) || (vm && inFlight.has(vm.name))) {
      o.action = 'busy';
      o.detail = 'an operation that could own it is in flight';
      return o;
    }
    if (o.graceLeftMs > 0) return o;
    if (dryRun) {
      o.action = 'would_remove';
      return o;
    }
    try {
      await this.deps.locks.with(h.vmId, 'gc', async () => {
        // Re-read under the lock: a create may have recorded this VM since the list.
        const now = await this.deps.vms.getById(h.vmId).catch(() => undefined);
        if (scope === 'vm' && now) throw Object.assign(new Error('the VM has a row now'), { reason: 'VM_BUSY' });
        if (scope === 'tap' && now && now.state !== 'stopped' && now.state !== 'error') throw Object.assign(new Error(`the VM is ${now.state} now`), { reason: 'VM_BUSY' });
        if (scope === 'vm') await this.deps.host.releaseVm(h.vmId);
        else await this.deps.host.releaseTap(h.vmId);
      });
      o.action = 'removed';
      this.firstSeen.delete(key);
      log().info({ vm_id: h.vmId, scope, held: o.held }, 'orphan removed');
    } catch (err) {
      o.action = (err as { reason?: string }).reason === 'VM_BUSY' ? 'busy' : 'failed';
      o.detail = errText(err);
      log().warn({ err, vm_id: h.vmId, scope }, 'orphan removal failed; retried on the next pass');
    }
    return o;
  }

  /** DNS records are a set privhelper replaces whole: resync it from the rows when it drifted. */
  private async dns(served: readonly string[], report: GcReport, busy: boolean): Promise<void> {
    const records = await this.deps.vms.dnsRecords();
    const want = new Set(records.map((r) => r.name));
    const have = new Set(served);
    report.dnsDrift = [...[...have].filter((n) => !want.has(n)).map((n) => `-${n}`), ...[...want].filter((n) => !have.has(n)).map((n) => `+${n}`)];
    if (report.dnsDrift.length === 0 || report.dryRun || busy) return;
    try {
      await this.deps.host.syncDns(records);
      log().info({ drift: report.dnsDrift }, 'dns records resynced');
      report.dnsDrift = [];
    } catch (err) {
      log().warn({ err }, 'dns resync failed; retried on the next pass');
    }
  }
}
