export type { OperationHandle } from '@banger/operations/app';

/** Where a long operation is: the point just after one of its stages finished its work. */
export interface StagePoint {
  opId: string;
  /** vm_create, vm_start, vm_snapshot. */
  kind: string;
  stage: string;
}

/**
 * Consulted after each stage of a create, start or snapshot has done its work, before the next stage
 * starts. In production it returns at once (noStageGate). Test harnesses wire one in that
 * fails or holds an exact stage, so a fault matrix can stop a real daemon there from outside
 * (daemon.ts takes it as an option; nothing in production reads a switch for it).
 */
export interface StageGate {
  passed(point: StagePoint): Promise<void>;
}

export const noStageGate: StageGate = { passed: async () => undefined };
