import { VirtualClock } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { FunctionPredictor } from '../src/function-predictor.js';

describe('FunctionPredictor', () => {
  it('answers a batch with the function, once per batch, in order', async () => {
    const batches: number[][] = [];
    const p = new FunctionPredictor(async (xs: readonly number[]) => {
      batches.push([...xs]);
      return xs.map((x) => x * 2);
    });
    expect(await p.predict([1, 2, 3])).toEqual([2, 4, 6]);
    expect(await p.predict([])).toEqual([]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('calls a per-item function for every input and keeps the order of slow and fast ones', async () => {
    const clock = new VirtualClock();
    const p = FunctionPredictor.perItem(async (x: number) => {
      await clock.sleep(10 - x);
      return `y${x}`;
    });
    expect(await clock.run(() => p.predict([1, 5, 9]))).toEqual(['y1', 'y5', 'y9']);
  });

  it('fails a wrong number of outputs with BAD_OUTPUT and passes the function’s own errors through', async () => {
    const short = new FunctionPredictor((xs: readonly number[]) => xs.slice(1));
    await expect(short.predict([1, 2])).rejects.toMatchObject({ name: 'ContainerError', code: 'BAD_OUTPUT' });
    const notArray = new FunctionPredictor(() => 'nope' as unknown as string[]);
    await expect(notArray.predict([1])).rejects.toThrow(/1 inputs with string/);

    const boom = new Error('model exploded');
    const throwing = new FunctionPredictor<number, number>(() => {
      throw boom;
    });
    await expect(throwing.predict([1])).rejects.toBe(boom);
    expect(await new FunctionPredictor((xs: readonly number[]) => xs).predict([4])).toEqual([4]);
  });

  it('fails a batch past timeoutMs with TIMEOUT, in virtual time', async () => {
    const clock = new VirtualClock();
    const p = new FunctionPredictor(
      async (xs: readonly number[]) => {
        await clock.sleep(xs[0] as number);
        return xs;
      },
      { timeoutMs: 50, clock },
    );
    expect(await clock.run(() => p.predict([10]))).toEqual([10]);
    await expect(clock.run(() => p.predict([100]))).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(clock.now()).toBeLessThan(200);
  });

  it('rejects calls in flight and later calls with DISPOSED, and runs onDispose once', async () => {
    let closed = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const p = new FunctionPredictor(
      async (xs: readonly number[]) => {
        await gate;
        return xs;
      },
      { onDispose: () => void closed++ },
    );
    const inFlight = expect(p.predict([1])).rejects.toMatchObject({ code: 'DISPOSED' });
    await p.dispose();
    await p.dispose();
    release();
    await inFlight;
    await expect(p.predict([1])).rejects.toMatchObject({ code: 'DISPOSED' });
    expect(closed).toBe(1);
  });

  it('refuses a non-array batch with BAD_INPUT and a bad timeout at construction', async () => {
    const p = new FunctionPredictor((xs: readonly number[]) => xs);
    await expect(p.predict(5 as unknown as number[])).rejects.toMatchObject({ code: 'BAD_INPUT' });
    expect(() => new FunctionPredictor((xs: readonly number[]) => xs, { timeoutMs: -1 })).toThrow(RangeError);
  });
});
