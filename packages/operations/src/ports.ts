import type { OperationStore } from '@banger/store';

/**
 * The durable operation log as vmd's use cases need it. `OperationStore` implements it; the
 * port keeps the use cases testable without a database and names exactly what they rely on.
 */
export type OperationLog = Pick<
  OperationStore,
  'create' | 'get' | 'appendEvent' | 'finish' | 'recordResource' | 'releaseResource' | 'list' | 'events' | 'watch' | 'markInterrupted' | 'pruneFinished'
>;
