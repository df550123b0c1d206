import type { OpEventBody } from '@banger/runtime/ops';
import type { OperationHandle } from '../ports/operation.js';

/**
 * An operation handle for a use case run inside another one's operation (a warm create's
 * restore, image warm's template create): its stages stream into the outer operation, but its
 * `accepted`, `result` and `failure` events are held back, because the outer use case decides
 * what the operation accepted, answered or failed with (a warm restore that fails on an
 * incompatible snapshot falls back to a boot, which is not a failure of the create).
 */
export class InnerOperation implements OperationHandle {
  /** The last result and failure the inner use case emitted. */
  result: Extract<OpEventBody, { type: 'result' }> | undefined;
  failure: Extract<OpEventBody, { type: 'failure' }> | undefined;

  constructor(private readonly outer: OperationHandle) {}

  get opId(): string {
    return this.outer.opId;
  }

  get signal(): AbortSignal {
    return this.outer.signal;
  }

  readonly emit = async (e: OpEventBody): Promise<void> => {
    if (e.type === 'accepted') return;
    if (e.type === 'result') this.result = e;
    else if (e.type === 'failure') this.failure = e;
    else await this.outer.emit(e);
  };

  recordResource(...args: Parameters<OperationHandle['recordResource']>): Promise<void> {
    return this.outer.recordResource(...args);
  }

  releaseResource(kind: string, ref: string): Promise<void> {
    return this.outer.releaseResource(kind, ref);
  }
}
