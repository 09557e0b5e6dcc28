/**
 * A FIFO that producers push into synchronously and a consumer drains with `for await`: the mailbox
 * behind in-process subscriptions, kv watches and status streams. Bounded: past `limit` items a push is
 * refused (the caller decides how to report it), like a NATS slow consumer.
 */
export class InProcessQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private ended = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly limit = Number.POSITIVE_INFINITY,
    /** Called once when the consumer stops iterating early (`break`). */
    private readonly onReturn?: () => void,
  ) {}

  /** Items held and not yet taken. */
  get size(): number {
    return this.items.length - this.head;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Appends `item`; false when the queue has ended or is full. */
  push(item: T): boolean {
    if (this.ended || this.size >= this.limit) return false;
    this.items.push(item);
    this.wake();
    return true;
  }

  /** No more items: iteration ends after the items already held (or at once when `discard`). */
  end(discard = false): void {
    if (discard) {
      this.items = [];
      this.head = 0;
    }
    this.ended = true;
    this.wake();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (this.size > 0) {
            const value = this.items[this.head] as T;
            this.items[this.head] = undefined as T;
            this.head++;
            // Compact now and then so a long-lived queue does not grow without bound.
            if (this.head > 1024 && this.head * 2 > this.items.length) {
              this.items = this.items.slice(this.head);
              this.head = 0;
            }
            return { value, done: false };
          }
          if (this.ended) return { value: undefined, done: true };
          await new Promise<void>((resolve) => {
            this.waiters.push(resolve);
          });
        }
      },
      return: async (): Promise<IteratorResult<T>> => {
        this.end(true);
        this.onReturn?.();
        return { value: undefined, done: true };
      },
    };
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
