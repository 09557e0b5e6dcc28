import { createRng } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { EdfQueue } from '../src/queue.js';

interface Item {
  readonly id: number;
  readonly deadline: number;
}

describe('EdfQueue', () => {
  it('serves earliest deadline first, first-in first-out among equal deadlines', () => {
    const q = new EdfQueue<Item>(1000);
    const rng = createRng(7);
    const items: Item[] = [];
    for (let id = 0; id < 300; id++) {
      const item = { id, deadline: 100 + rng.int(50) };
      items.push(item);
      expect(q.offer(item, 0).admitted).toBe(true);
    }
    const out: Item[] = [];
    while (q.length > 0) out.push(...q.takeBatch(1 + rng.int(7), 0).batch);
    const expected = [...items].sort((a, b) => a.deadline - b.deadline || a.id - b.id);
    expect(out.map((i) => i.id)).toEqual(expected.map((i) => i.id));
  });

  it('refuses beyond its bound, saying the queue is full', () => {
    const q = new EdfQueue<Item>(3);
    for (let id = 0; id < 3; id++) expect(q.offer({ id, deadline: 50 }, 0).admitted).toBe(true);
    const refused = q.offer({ id: 3, deadline: 50 }, 0);
    expect(refused).toMatchObject({ admitted: false, reason: 'queue-full' });
    expect(!refused.admitted && refused.explanation).toMatch(/^rejected at admission: queue full \(3 of 3/);
    expect(q.length).toBe(3);
    q.pop();
    expect(q.offer({ id: 4, deadline: 50 }, 0).admitted).toBe(true);
  });

  it('admission control refuses a query that cannot finish by its deadline given the queries ahead', () => {
    const q = new EdfQueue<Item>(100);
    // 4 ms per query ahead, itself included.
    const estimate = (ahead: number) => (ahead + 1) * 4;
    for (let id = 0; id < 5; id++) expect(q.offer({ id, deadline: 100 }, 0, estimate).admitted).toBe(true);
    // 5 queued due by 100: a query due at 20 waits behind none of them (EDF), so it fits 4 ms.
    expect(q.offer({ id: 10, deadline: 20 }, 0, estimate).admitted).toBe(true);
    // Due at 150: 6 ahead → 28 ms needed, 150 left: admitted.
    expect(q.offer({ id: 11, deadline: 150 }, 0, estimate).admitted).toBe(true);
    // 20 more due at 90: a query due at 100 at time 10 has 26 ahead → 108 ms needed, 90 left: refused.
    for (let id = 20; id < 40; id++) q.push({ id, deadline: 90 });
    const late = q.offer({ id: 50, deadline: 100 }, 10, estimate);
    expect(late).toMatchObject({ admitted: false, reason: 'admission' });
    expect(!late.admitted && late.explanation).toBe(
      'rejected at admission: predicted completion in 108 ms with 26 queries ahead exceeds the 90.0 ms left before the deadline',
    );
    // A later deadline leaves room: due at 200, 28 ahead → 116 ms, 190 left.
    expect(q.offer({ id: 52, deadline: 200 }, 10, estimate).admitted).toBe(true);
    // Without an estimate (nothing measured yet) the same query is admitted.
    expect(q.offer({ id: 51, deadline: 100 }, 10, () => undefined).admitted).toBe(true);
  });

  it('refuses a query whose deadline already passed', () => {
    const q = new EdfQueue<Item>(10);
    expect(q.offer({ id: 1, deadline: 5 }, 5)).toMatchObject({ admitted: false, reason: 'admission' });
    expect(q.length).toBe(0);
  });

  it('forms a batch after removing expired queries, returning them apart', () => {
    const q = new EdfQueue<Item>(10);
    for (const [id, deadline] of [
      [1, 10],
      [2, 30],
      [3, 5],
      [4, 40],
      [5, 20],
    ] as const) {
      q.offer({ id, deadline }, 0);
    }
    const { batch, expired } = q.takeBatch(2, 10);
    expect(expired.map((i) => i.id)).toEqual([3, 1]);
    expect(batch.map((i) => i.id)).toEqual([5, 2]);
    expect(q.length).toBe(1);
    expect(q.drain().map((i) => i.id)).toEqual([4]);
  });
  it('counts the queries due by a deadline, and admits, exactly as a full scan would, over random queues', () => {
    const rng = createRng(11);
    const bruteCount = (held: readonly Item[], d: number) => held.filter((i) => i.deadline <= d).length;
    // Admission as it was before the count had a fast path: a scan of every queued query.
    const bruteAdmits = (held: readonly Item[], item: Item, now: number, perQuery: number) => {
      const slack = item.deadline - now;
      const ahead = bruteCount(held, item.deadline);
      return slack > 0 && held.length < 64 && (ahead === 0 || (ahead + 1) * perQuery <= slack);
    };
    let fastPathHits = 0;
    let scans = 0;
    for (let round = 0; round < 40; round++) {
      const q = new EdfQueue<Item>(64);
      let held: Item[] = [];
      let now = 0;
      let id = 0;
      // Mixed SLOs (ties likely) exercise the scan; a single SLO exercises the latest-deadline path.
      const slos = round % 2 === 0 ? [20, 50, 200] : [100];
      for (let step = 0; step < 400; step++) {
        const op = rng.int(10);
        if (op < 6) {
          const item = { id: id++, deadline: now + slos[rng.int(slos.length)]! - rng.int(3) };
          const perQuery = rng.int(4);
          const expected = bruteAdmits(held, item, now, perQuery);
          const admitted = q.offer(item, now, (ahead) => (ahead + 1) * perQuery).admitted;
          expect(admitted).toBe(expected);
          if (admitted) held.push(item);
        } else if (op < 7) {
          const item = { id: id++, deadline: now + rng.int(300) };
          q.push(item);
          held.push(item);
        } else if (op < 9) {
          const { batch, expired } = q.takeBatch(1 + rng.int(8), now);
          const gone = new Set([...batch, ...expired]);
          held = held.filter((i) => !gone.has(i));
        } else {
          now += rng.int(30);
        }
        expect(q.length).toBe(held.length);
        const latest = Math.max(...held.map((i) => i.deadline));
        const earliest = Math.min(...held.map((i) => i.deadline));
        for (const d of [latest, latest + 1, latest - 1, earliest, earliest - 1, now + rng.int(250)]) {
          expect(q.countDueBy(d)).toBe(bruteCount(held, d));
          if (held.length > 0 && (d >= latest || d < earliest)) fastPathHits++;
          else if (held.length > 0) scans++;
        }
      }
    }
    // Both paths were exercised, not only one.
    expect(fastPathHits).toBeGreaterThan(1000);
    expect(scans).toBeGreaterThan(1000);
  });
});
