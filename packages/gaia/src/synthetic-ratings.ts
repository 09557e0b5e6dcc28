import type { Rng } from '@geoml/core';

/** Ratings as parallel arrays: `values[k]` is user `users[k]`'s rating of item `items[k]`. */
export interface Ratings {
  readonly users: Uint32Array;
  readonly items: Uint32Array;
  readonly values: Float32Array;
}

/** How to draw a synthetic rating matrix. */
export interface SyntheticRatingsSpec {
  readonly users: number;
  readonly items: number;
  /** Rank of the hidden matrix. */
  readonly rank: number;
  /** Fraction of the matrix observed. */
  readonly density: number;
  /** Standard deviation of the Gaussian noise on each rating. */
  readonly noise: number;
  /** Zipf exponent of item popularity. */
  readonly popularity: number;
}

/**
 * Seeded low-rank ratings `r = u·v + N(0, noise²)` (factors scaled so `u·v` has unit variance); each
 * user rates about `density × items` distinct items drawn by Zipf popularity, whose ranks are returned
 * (0 = most popular).
 */
export function generateRatings(
  o: SyntheticRatingsSpec,
  rng: Rng,
): { ratings: Ratings; popularityRank: Uint32Array } {
  // Entries of N(0, 1/√rank) make u·v have unit variance whatever the rank.
  const scale = o.rank ** -0.25;
  const factors = (n: number) => Float32Array.from({ length: n * o.rank }, () => rng.normal() * scale);
  const U = factors(o.users);
  const V = factors(o.items);
  const itemByRank = rng.shuffle(Array.from({ length: o.items }, (_, i) => i));
  const popularityRank = new Uint32Array(o.items);
  itemByRank.forEach((item, r) => {
    popularityRank[item] = r;
  });
  const cumulative = new Float64Array(o.items);
  let total = 0;
  for (let r = 0; r < o.items; r++) {
    total += 1 / (r + 1) ** o.popularity;
    cumulative[r] = total;
  }
  const drawRank = () => {
    const x = rng.next() * total;
    let lo = 0;
    let hi = o.items - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const users: number[] = [];
  const items: number[] = [];
  const values: number[] = [];
  const mean = o.density * o.items;
  for (let u = 0; u < o.users; u++) {
    const want = Math.min(o.items, Math.max(1, Math.round(mean * (0.5 + rng.next()))));
    const seen = new Set<number>();
    // Rejection of repeats, bounded: a user with very many ratings may end with a few fewer.
    for (let tries = 0; seen.size < want && tries < want * 20; tries++) {
      seen.add(itemByRank[drawRank()] as number);
    }
    for (const i of [...seen].sort((a, b) => a - b)) {
      let dot = 0;
      for (let f = 0; f < o.rank; f++) dot += (U[u * o.rank + f] as number) * (V[i * o.rank + f] as number);
      users.push(u);
      items.push(i);
      values.push(dot + o.noise * rng.normal());
    }
  }
  return {
    ratings: {
      users: Uint32Array.from(users),
      items: Uint32Array.from(items),
      values: Float32Array.from(values),
    },
    popularityRank,
  };
}

/** Splits off a random `fraction` of the ratings as the test set (both kept in the original order). */
export function holdOut(ratings: Ratings, fraction: number, rng: Rng): { train: Ratings; test: Ratings } {
  const n = ratings.values.length;
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const testCount = Math.max(1, Math.round(n * fraction));
  const pick = (idx: number[]): Ratings => {
    idx.sort((a, b) => a - b);
    return {
      users: Uint32Array.from(idx, (k) => ratings.users[k] as number),
      items: Uint32Array.from(idx, (k) => ratings.items[k] as number),
      values: Float32Array.from(idx, (k) => ratings.values[k] as number),
    };
  };
  return { test: pick(order.slice(0, testCount)), train: pick(order.slice(testCount)) };
}
