import { describe, expect, it } from 'vitest';
import { ClockError, createRng, VirtualClock } from '../src/index.js';

describe('VirtualClock', () => {
  it('advances only when every task waits, in timer order', async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    const task = async (name: string, waits: number[]) => {
      for (const ms of waits) {
        await clock.sleep(ms);
        log.push(`${name}@${clock.now()}`);
      }
    };
    const end = await clock.run(async () => {
      await Promise.all([task('a', [10, 10, 10]), task('b', [15, 15]), task('c', [30])]);
      return clock.now();
    });
    expect(end).toBe(30);
    // Timers due together fire in the order they were set: c's at 0, b's at 15, a's at 20.
    expect(log).toEqual(['a@10', 'b@15', 'a@20', 'c@30', 'b@30', 'a@30']);
  });

  it('gives the same event order for the same seed under many concurrent timers', async () => {
    const trace = async (seed: number) => {
      const clock = new VirtualClock();
      const rng = createRng(seed);
      const log: string[] = [];
      await clock.run(async () => {
        await Promise.all(
          Array.from({ length: 20 }, async (_, id) => {
            for (let i = 0; i < 10; i++) {
              await clock.sleep(rng.int(5));
              // CPU work between sleeps must not let time move.
              const t = clock.now();
              for (let k = 0; k < 1000; k++) Math.sqrt(k);
              await Promise.resolve();
              expect(clock.now()).toBe(t);
              log.push(`${id}:${t}`);
            }
          }),
        );
      });
      return log;
    };
    const a = await trace(11);
    expect(await trace(11)).toEqual(a);
    expect(await trace(12)).not.toEqual(a);
  });

  it('holds time still while tracked real work runs', async () => {
    const clock = new VirtualClock();
    const seen = await clock.run(async () => {
      const ticker = clock.sleep(1);
      await clock.track(new Promise((resolve) => setTimeout(resolve, 20)));
      const at = clock.now();
      await ticker;
      return at;
    });
    expect(seen).toBe(0);
  });

  it('rejects an aborted sleep and forgets its timer', async () => {
    const clock = new VirtualClock();
    const ac = new AbortController();
    const result = await clock.run(async () => {
      const slow = clock.sleep(100, ac.signal).catch((e) => `aborted: ${e}`);
      await clock.sleep(5);
      ac.abort('stop');
      const outcome = await slow;
      return { outcome, now: clock.now(), pending: clock.pendingTimers };
    });
    expect(result).toEqual({ outcome: 'aborted: stop', now: 5, pending: 0 });
  });

  it('reports a deadlock instead of hanging', async () => {
    const clock = new VirtualClock();
    await expect(clock.run(() => new Promise<void>(() => {}))).rejects.toBeInstanceOf(ClockError);
  });

  it('advances step by step for tests', async () => {
    const clock = new VirtualClock(100);
    const fired: number[] = [];
    void clock.sleep(5).then(() => fired.push(clock.now()));
    void clock.sleep(50).then(() => fired.push(clock.now()));
    await clock.advance(10);
    expect(fired).toEqual([105]);
    expect(clock.now()).toBe(110);
    await clock.advance(40);
    expect(fired).toEqual([105, 150]);
  });
});
