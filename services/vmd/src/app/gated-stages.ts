import { StageRunner } from '@banger/runtime/ops';
import { noStageGate, type OperationHandle, type StageGate } from '../ports/operation.js';

/** A StageRunner whose finished stages pass the gate (the fault matrix holds one there; production has none). */
export function gatedStages(op: OperationHandle, kind: string, gate: StageGate = noStageGate): StageRunner {
  return new StageRunner(async (e) => {
    await op.emit(e);
    if (e.type === 'stage_finished' && e.ok) await gate.passed({ opId: op.opId, kind, stage: e.stage });
  });
}
