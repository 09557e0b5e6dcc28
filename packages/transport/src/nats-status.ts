import type { TransportStatus } from './transport.js';

/**
 * Fans connection events out to every `status()` iterator. An iterator sees the events emitted after it
 * was created; all of them end when the feed ends (the transport closed).
 */
export class StatusFeed {
  private readonly listeners = new Set<(s: TransportStatus | null) => void>();
  ended = false;

  emit(status: TransportStatus): void {
    if (this.ended) return;
    for (const l of this.listeners) l(status);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const l of this.listeners) l(null);
    this.listeners.clear();
  }

  subscribe(): AsyncIterable<TransportStatus> {
    const queue: (TransportStatus | null)[] = [];
    let wake: (() => void) | undefined;
    const listener = (s: TransportStatus | null) => {
      queue.push(s);
      wake?.();
    };
    if (this.ended) queue.push(null);
    else this.listeners.add(listener);
    const listeners = this.listeners;
    return {
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            if (queue.length === 0) await new Promise<void>((r) => (wake = r));
            wake = undefined;
            const next = queue.shift();
            if (next === null || next === undefined) return;
            yield next;
          }
        } finally {
          listeners.delete(listener);
        }
      },
    };
  }
}
