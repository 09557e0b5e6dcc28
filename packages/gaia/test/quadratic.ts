import { type Model, type Rng, type TensorMap, tensor } from '@geoml/core';
import type { DataShard, Workload } from '../src/workload.js';

/**
 * A tiny test workload: minimise the mean squared distance of a vector `w` to noisy targets spread
 * over regions. Each batch holds one target; the update is `-lr * (w - target)` on a few coordinates,
 * so updates are sparse like MF's. Quality = RMSE of `w` against the mean target (lower is better).
 */
export function quadraticWorkload(
  options: { size?: number; lr?: number; nanAtStep?: number } = {},
): Workload<Float32Array> {
  const size = options.size ?? 64;
  const lr = options.lr ?? 0.2;
  const mean = new Float32Array(size);
  for (let i = 0; i < size; i++) mean[i] = 1 + (i % 7) * 0.5;
  let steps = 0;
  const model: Model<Float32Array> = {
    name: 'quadratic',
    init: (rng: Rng): TensorMap => {
      const w = new Float32Array(size);
      for (let i = 0; i < size; i++) w[i] = 0.1 * rng.normal();
      return new Map([['w', tensor('float32', [size], w)]]);
    },
    computeUpdate: (params, target) => {
      steps++;
      const w = params.get('w')?.data as Float32Array;
      const u = new Float32Array(size);
      for (let i = 0; i < size; i++) {
        if (Number.isNaN(target[i] as number)) continue;
        u[i] = -lr * ((w[i] as number) - (target[i] as number));
      }
      if (options.nanAtStep !== undefined && steps >= options.nanAtStep) u[0] = Number.NaN;
      return new Map([['w', tensor('float32', [size], u)]]);
    },
    evaluate: (params) => {
      const w = params.get('w')?.data as Float32Array;
      let s = 0;
      for (let i = 0; i < size; i++) s += ((w[i] as number) - (mean[i] as number)) ** 2;
      return { metric: 'rmse', value: Math.sqrt(s / size), higherIsBetter: false };
    },
  };
  return {
    model,
    batchSize: 8,
    describe: {
      name: 'quadratic',
      params: size,
      trainItems: 0,
      testItems: 0,
      metric: 'rmse',
      higherIsBetter: false,
      updates: 'sparse',
    },
    dispose: () => {},
    shards: (regions, workersPerRegion) =>
      Array.from({ length: regions }, (_, region) =>
        Array.from(
          { length: workersPerRegion },
          (_, worker): DataShard<Float32Array> => ({
            region,
            worker,
            size: 0,
            items: new Uint32Array(0),
            // A batch touches a quarter of the coordinates (NaN = untouched), with small noise.
            nextBatch: (rng) => {
              const t = new Float32Array(size).fill(Number.NaN);
              for (let i = 0; i < size; i++) {
                if (rng.next() < 0.25) t[i] = (mean[i] as number) + 0.05 * rng.normal();
              }
              return t;
            },
          }),
        ),
      ),
  };
}
