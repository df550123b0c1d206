import { vmv1 } from '@banger/api';
import { commonEventBodyToProto, type OpEventBody } from '@banger/runtime';
import type { OperationEvent, VmRecord } from '@banger/store';
import { snapshotFromJson } from '../../domain/snapshot.js';
import { vmFromJson, type Vm } from '../../domain/vm.js';
import { snapshotToProto } from './snapshot-handlers.js';
import { vmFromRecord } from '../vm-repo.js';
import type { VmView } from './vm-convert.js';

const RECORD_DATES = ['createdAt', 'updatedAt', 'startedAt', 'stoppedAt', 'lastUsedAt'] as const;

/**
 * The VM a create/start kept in its result event. Operations recorded by vmds before the
 * domain VM existed kept the store row instead (it has `imageId`); both replay.
 */
function storedVm(json: Record<string, unknown>): Vm {
  if (!('imageId' in json)) return vmFromJson(json);
  const row = { ...json } as Record<string, unknown>;
  for (const f of RECORD_DATES) row[f] = typeof row[f] === 'string' ? new Date(row[f]) : null;
  return vmFromRecord(row as unknown as VmRecord);
}

/** Domain operation events as vmd's wire events (the final `result` case carries a Vm, a Snapshot for SnapshotVm, a ForkResult for ForkVm). */
export class VmEvents {
  constructor(private readonly view: VmView) {}

  toProto(opId: string, seq: number, body: OpEventBody, time: Date = new Date()): vmv1.OperationEvent {
    if (body.type === 'result' && typeof body.result['snapshot'] === 'object' && body.result['snapshot'] !== null) {
      const { snapshot, clones } = snapshotFromJson(body.result['snapshot'] as Record<string, unknown>);
      return { opId, seq, time, body: { $case: 'snapshot', value: snapshotToProto(snapshot, clones) } };
    }
    if (body.type === 'result' && typeof body.result['fork'] === 'object' && body.result['fork'] !== null) {
      return { opId, seq, time, body: { $case: 'fork', value: this.forkToProto(body.result['fork'] as Record<string, unknown>) } };
    }
    if (body.type === 'result') {
      const stored = body.result['vm'];
      const value = stored && typeof stored === 'object' ? this.view.toProto(storedVm(stored as Record<string, unknown>)) : vmv1.Vm.fromPartial({});
      return { opId, seq, time, body: { $case: 'vm', value } };
    }
    return { opId, seq, time, body: commonEventBodyToProto(body) };
  }

  private forkToProto(json: Record<string, unknown>): vmv1.ForkResult {
    const clones = Array.isArray(json['clones']) ? (json['clones'] as Record<string, unknown>[]) : [];
    const failed = Array.isArray(json['failed']) ? (json['failed'] as Record<string, unknown>[]) : [];
    const text = (o: Record<string, unknown>, k: string): string => (typeof o[k] === 'string' ? o[k] : '');
    return {
      source: text(json, 'source'),
      clones: clones.map((c) => this.view.toProto(storedVm(c))),
      failed: failed.map((f) => ({ name: text(f, 'name'), reason: text(f, 'reason'), message: text(f, 'message'), stage: text(f, 'stage') })),
      pauseMs: typeof json['pauseMs'] === 'number' ? json['pauseMs'] : 0,
    };
  }

  /** A stored event (its JSON is the OpEventBody the use case emitted) with its store-assigned seq and time. */
  readonly stored = (event: OperationEvent): vmv1.OperationEvent => this.toProto(event.opId, event.seq, event.event as unknown as OpEventBody, event.at);
}
