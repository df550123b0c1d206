import type { ResponseStream } from '@banger/runtime/client';

/** An operation event of any banger service: its body's `$case` names what happened. */
interface EventLike {
  body?: { $case: string; value: unknown } | undefined;
}

/**
 * A long operation (VM create, image build) as it streams: iterate it for every event (stages,
 * progress, log lines), or await `result()` for the final value. A failed operation throws
 * RpcError from either, with the reason and op id of the failure.
 */
export class OperationCall<E extends EventLike, R> implements AsyncIterable<E> {
  private readonly iterator: AsyncIterator<E>;
  private final: R | undefined;
  private started = false;

  constructor(
    private readonly stream: ResponseStream<E>,
    private readonly resultCase: string,
  ) {
    this.iterator = stream[Symbol.asyncIterator]();
  }

  /** The op id the daemon confirmed (also in the first `accepted` event). */
  get opId(): Promise<string | undefined> {
    return this.stream.opId;
  }

  /** Stops following; whether the operation goes on depends on the request (e.g. cancel_on_detach). */
  cancel(): void {
    this.stream.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<E> {
    if (this.started) throw new Error('an OperationCall can be iterated once');
    this.started = true;
    for (;;) {
      const next = await this.iterator.next();
      if (next.done) return;
      if (next.value.body?.$case === this.resultCase) this.final = next.value.body.value as R;
      yield next.value;
    }
  }

  /** The operation's final value, reading whatever events are left. */
  async result(): Promise<R> {
    if (!this.started) for await (const _ of this) void _;
    if (this.final === undefined) throw new Error(`the operation stream ended without its ${this.resultCase}`);
    return this.final;
  }
}
