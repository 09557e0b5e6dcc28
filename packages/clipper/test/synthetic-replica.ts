import { type Clock, createRng, type Predictor } from '@geoml/core';

/**
 * A deterministic model replica in virtual time: a batch of n inputs takes `a + b·n` ms (plus seeded
 * half-normal noise of scale `noise`) on the given clock, and answers each input `x` with `answer(x)`.
 * Latency can be changed mid-run (a step change) and every batch is recorded.
 */
export class SyntheticReplica<I = unknown, O = unknown> implements Predictor<I, O> {
  a: number;
  b: number;
  noise: number;
  /** Every batch executed: when it started, its inputs, how long it took. */
  readonly batches: { start: number; inputs: readonly I[]; latencyMs: number }[] = [];
  disposed = false;
  private readonly rng;

  constructor(
    private readonly clock: Clock,
    options: { a: number; b: number; noise?: number; seed?: number; answer?: (input: I) => O },
  ) {
    this.a = options.a;
    this.b = options.b;
    this.noise = options.noise ?? 0;
    this.rng = createRng(options.seed ?? 1);
    this.answer = options.answer ?? ((x: I) => x as unknown as O);
  }

  private readonly answer: (input: I) => O;

  async predict(inputs: readonly I[]): Promise<O[]> {
    if (this.disposed) throw new Error('predict after dispose');
    const start = this.clock.now();
    const latencyMs = this.a + this.b * inputs.length + this.noise * Math.abs(this.rng.normal());
    this.batches.push({ start, inputs: [...inputs], latencyMs });
    await this.clock.sleep(latencyMs);
    return inputs.map(this.answer);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
