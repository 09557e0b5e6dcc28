interface Node<T> {
  readonly item: T;
  readonly key: number;
  readonly seq: number;
}

/**
 * A binary min-heap on a numeric key, first-in first-out among equal keys (so orders built on it are
 * deterministic): the virtual clock's timers by due time, a serving queue's queries by deadline.
 */
export class MinHeap<T> {
  private readonly nodes: Node<T>[] = [];
  private seq = 0;

  constructor(private readonly keyOf: (item: T) => number) {}

  get size(): number {
    return this.nodes.length;
  }

  /** The item with the smallest key (the earliest pushed among equals), without removing it. */
  peek(): T | undefined {
    return this.nodes[0]?.item;
  }

  push(item: T): void {
    const h = this.nodes;
    h.push({ item, key: this.keyOf(item), seq: this.seq++ });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  /** Removes and returns the item with the smallest key. */
  pop(): T | undefined {
    const h = this.nodes;
    const top = h[0];
    if (!top) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.down(0);
    }
    return top.item;
  }

  /** Every item, in no particular order. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (const node of this.nodes) yield node.item;
  }

  private down(i: number): void {
    const h = this.nodes;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

function before<T>(a: Node<T>, b: Node<T>): boolean {
  return a.key < b.key || (a.key === b.key && a.seq < b.seq);
}
