import { describe, expect, it } from 'vitest';
import { createRng, MinHeap } from '../src/index.js';

describe('MinHeap', () => {
  it('pops in key order, first in first out among equal keys', () => {
    const rng = createRng(5);
    const items = Array.from({ length: 500 }, (_, id) => ({ id, key: rng.int(20) }));
    const heap = new MinHeap<{ id: number; key: number }>((x) => x.key);
    for (const x of items) heap.push(x);
    expect(heap.size).toBe(500);
    const out: { id: number; key: number }[] = [];
    for (let x = heap.pop(); x; x = heap.pop()) out.push(x);
    const expected = [...items].sort((a, b) => a.key - b.key || a.id - b.id);
    expect(out).toEqual(expected);
    expect(heap.pop()).toBeUndefined();
  });

  it('peeks without removing and iterates over what it holds', () => {
    const heap = new MinHeap<number>((x) => x);
    for (const x of [5, 1, 3]) heap.push(x);
    expect(heap.peek()).toBe(1);
    expect(heap.size).toBe(3);
    expect([...heap].sort()).toEqual([1, 3, 5]);
  });
});
