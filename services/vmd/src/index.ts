export { runVmd, type VmdOptions } from './daemon.js';
export type { StageGate, StagePoint } from './ports/operation.js';
