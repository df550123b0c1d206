/** A FIFO async mutex: pool state changes run one at a time so concurrent verbs never race on a tap. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(f: () => Promise<T>): Promise<T> {
    const result = this.tail.then(f);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
