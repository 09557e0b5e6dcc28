import { ConfigError, VirtualClock } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import { FunctionPredictor } from '../src/function-predictor.js';
import { ServingError } from '../src/serving-error.js';
import { SyntheticReplica } from './synthetic-replica.js';

/** A serving core on a virtual clock with model `m`: v1 answers x·1, v2 x·2, v3 x·3 (v1 serves). */
async function withVersions(main: (clipper: Clipper, clock: VirtualClock) => Promise<void>): Promise<void> {
  const clock = new VirtualClock();
  const clipper = new Clipper({ clock });
  const version = (factor: number) =>
    new SyntheticReplica<number, number>(clock, { a: 1, b: 0, answer: (x) => x * factor });
  await clock.run(async () => {
    const dark = { activate: false, cache: false };
    await clipper.deployModel('m', 1, [version(1)], { cache: false });
    await clipper.deployModel('m', 2, [version(2)], dark);
    await clipper.deployModel('m', 3, [version(3)], dark);
    clipper.registerApplication({
      name: 'app',
      inputType: 'json',
      latencySloMs: 100,
      defaultOutput: -1,
      linkedModels: ['m'],
    });
    await main(clipper, clock);
    await clipper.close();
  });
}

/** Sends `n` sequential queries; counts the answers per version. */
async function send(clipper: Clipper, n: number, ask = (x: number) => clipper.predict('app', x)) {
  const byVersion: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await ask(i + 1);
    expect(r.default).toBe(false);
    byVersion[r.version!] = (byVersion[r.version!] ?? 0) + 1;
  }
  return byVersion;
}

const statsOf = (clipper: Clipper, version: string) =>
  clipper.getModel('m').versions.find((v) => v.version === version)!.stats;

describe('Clipper: canary traffic split', () => {
  it('sends the canary its share of live traffic, within one query, and counts each version', async () => {
    await withVersions(async (clipper) => {
      const info = clipper.setCanary('m', 2, 0.1);
      expect(info).toMatchObject({ servingVersion: '1', canary: { version: '2', share: 0.1 } });
      const counts = await send(clipper, 1000);
      expect(Math.abs((counts['2'] ?? 0) - 100)).toBeLessThanOrEqual(1);
      expect((counts['1'] ?? 0) + (counts['2'] ?? 0)).toBe(1000);
      expect(counts['3']).toBeUndefined();
      expect(statsOf(clipper, '2')).toEqual({ answered: counts['2'], defaulted: 0, failed: 0 });
      expect(statsOf(clipper, '1')).toEqual({ answered: counts['1'], defaulted: 0, failed: 0 });
      // The share holds over any prefix too: a canary judged early sees its share.
      clipper.setCanary('m', 3, 0.37);
      const next = await send(clipper, 300);
      expect(Math.abs((next['3'] ?? 0) - 0.37 * 300)).toBeLessThanOrEqual(1);
      expect(next['2']).toBeUndefined();
      expect(clipper.getModel('m').canary).toEqual({ version: '3', share: 0.37 });
    });
  });

  it('applies to predictModel without a version; an explicit version bypasses it', async () => {
    await withVersions(async (clipper) => {
      clipper.setCanary('m', 2, 0.5);
      const split = await send(clipper, 100, (x) => clipper.predictModel('m', x));
      expect(split).toEqual({ '1': 50, '2': 50 });
      const pinned = await send(clipper, 20, (x) => clipper.predictModel('m', x, { version: '3' }));
      expect(pinned).toEqual({ '3': 20 });
      expect(await send(clipper, 10, (x) => clipper.predictModel('m', x, { version: '1' }))).toEqual({
        '1': 10,
      });
    });
  });

  it('ends when the canary becomes the serving version, is undeployed, or is cleared', async () => {
    await withVersions(async (clipper) => {
      clipper.setCanary('m', 2, 0.5);
      const promoted = clipper.setServingVersion('m', 2);
      expect(promoted.canary).toBeUndefined();
      expect(await send(clipper, 10)).toEqual({ '2': 10 });

      clipper.setCanary('m', 3, 1);
      expect(await send(clipper, 5)).toEqual({ '3': 5 });
      // Switching serving to a third version keeps the canary: it is still another version.
      expect(clipper.setServingVersion('m', 1).canary).toEqual({ version: '3', share: 1 });
      await clipper.undeployModel('m', 3);
      expect(clipper.getModel('m').canary).toBeUndefined();
      expect(await send(clipper, 5)).toEqual({ '1': 5 });

      clipper.setCanary('m', 2, 1);
      expect(clipper.clearCanary('m').canary).toBeUndefined();
      expect(await send(clipper, 5)).toEqual({ '1': 5 });
    });
  });

  it('retries a query the canary failed on the serving version; the canary is still counted as failed', async () => {
    await withVersions(async (clipper) => {
      const broken = new FunctionPredictor<number, number>(() => {
        throw new Error('weights corrupt');
      });
      await clipper.deployModel('m', 'bad', [broken], { activate: false, cache: false });
      clipper.setCanary('m', 'bad', 0.25);
      const results = [];
      for (let i = 0; i < 40; i++) results.push(await clipper.predict('app', i));
      // Every caller gets the serving version's answer, the canary's share included.
      expect(results.filter((r) => r.default)).toEqual([]);
      expect(results.map((r) => r.output)).toEqual(results.map((_, i) => i));
      expect(new Set(results.map((r) => r.version))).toEqual(new Set(['1']));
      // The canary's share still reached it, and its failures are what it is judged by.
      expect(statsOf(clipper, 'bad')).toEqual({ answered: 0, defaulted: 10, failed: 10 });
      expect(statsOf(clipper, '1')).toEqual({ answered: 40, defaulted: 0, failed: 0 });

      // The same for predictModel without a version.
      const direct = [];
      for (let i = 0; i < 8; i++) direct.push(await clipper.predictModel('m', i + 100));
      expect(direct.map((r) => [r.output, r.default, r.version])).toEqual(
        direct.map((_, i) => [i + 100, false, '1']),
      );
      expect(statsOf(clipper, 'bad')).toMatchObject({ defaulted: 12, failed: 12 });
      // And through the model-selection layer (an application with a bandit policy).
      clipper.registerApplication({
        name: 'bandit',
        inputType: 'json',
        latencySloMs: 100,
        defaultOutput: -1,
        linkedModels: ['m'],
        selectionPolicy: 'exp3',
      });
      const chosen = [];
      for (let i = 0; i < 8; i++) chosen.push(await clipper.predict('bandit', i + 200));
      expect(chosen.map((r) => [r.output, r.default, r.version])).toEqual(
        chosen.map((_, i) => [i + 200, false, '1']),
      );
      expect(statsOf(clipper, 'bad')).toMatchObject({ defaulted: 14, failed: 14 });
      // An explicit version is not live traffic: its failure is the caller's answer.
      const pinned = await clipper.predictModel('m', 7, { version: 'bad' });
      expect(pinned).toMatchObject({ output: null, default: true, defaultReason: 'model-error' });
    });
  });

  it('does not retry a canary failure past the deadline, nor a canary query that expired', async () => {
    await withVersions(async (clipper, clock) => {
      let failAfterMs = 95;
      const late = new FunctionPredictor<number, number>(
        async () => {
          await clock.sleep(failAfterMs);
          throw new Error('failed late');
        },
        { clock },
      );
      await clipper.deployModel('m', 'late', [late], { activate: false, cache: false });
      clipper.setCanary('m', 'late', 1);
      // Failed at 95 ms of a 100 ms SLO: the serving version (1 ms) still answers in time.
      expect(await clipper.predict('app', 3)).toMatchObject({ output: 3, default: false, version: '1' });
      expect(statsOf(clipper, 'late')).toEqual({ answered: 0, defaulted: 1, failed: 1 });
      // Still running at the deadline: the SLO default, counted against the canary, not retried.
      failAfterMs = 150;
      const expired = await clipper.predict('app', 4);
      expect(expired).toMatchObject({ output: -1, default: true, version: 'late', defaultReason: 'slo' });
      expect(statsOf(clipper, 'late')).toEqual({ answered: 0, defaulted: 2, failed: 1 });
      expect(statsOf(clipper, '1')).toEqual({ answered: 1, defaulted: 0, failed: 0 });
      await clock.sleep(100);
    });
  });

  it('does not retry a query the canary refused at admission: its overload is judged, not hidden', async () => {
    await withVersions(async (clipper, clock) => {
      const slow = new SyntheticReplica<number, number>(clock, { a: 50, b: 0, answer: (x) => x * 10 });
      await clipper.deployModel('m', 'small', [slow], { activate: false, cache: false, maxQueueLength: 1 });
      clipper.setCanary('m', 'small', 1);
      // Both arrive before the replica takes the first: the second finds the queue full.
      const results = await Promise.all([1, 2].map((x) => clipper.predict('app', x)));
      expect(results.map((r) => [r.output, r.version])).toEqual([
        [10, 'small'],
        [-1, 'small'],
      ]);
      expect(results[1]).toMatchObject({ default: true, defaultReason: 'queue-full' });
      expect(statsOf(clipper, 'small')).toEqual({ answered: 1, defaulted: 1, failed: 0 });
      expect(statsOf(clipper, '1')).toEqual({ answered: 0, defaulted: 0, failed: 0 });
    });
  });

  it('answers the canary queries still waiting when the canary is undeployed from the serving version', async () => {
    await withVersions(async (clipper) => {
      clipper.setCanary('m', 2, 1);
      const pending = Array.from({ length: 8 }, (_, i) => clipper.predict('app', i + 1));
      await clipper.undeployModel('m', 2, { force: true });
      const results = await Promise.all(pending);
      expect(results.every((r) => !r.default)).toBe(true);
      expect(results.filter((r) => r.version === '1').length).toBeGreaterThan(0);
      expect(clipper.getModel('m').canary).toBeUndefined();
    });
  });

  it('refuses a bad canary with a typed error, leaving the split as it was', async () => {
    await withVersions(async (clipper) => {
      clipper.setCanary('m', 2, 0.2);
      const fail = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          return e;
        }
        throw new Error('expected a throw');
      };
      expect(fail(() => clipper.setCanary('nope', 2, 0.1))).toMatchObject({ code: 'UNKNOWN_MODEL' });
      expect(fail(() => clipper.setCanary('m', 9, 0.1))).toMatchObject({ code: 'UNKNOWN_VERSION' });
      const serving = fail(() => clipper.setCanary('m', 1, 0.1));
      expect(serving).toBeInstanceOf(ServingError);
      expect(serving).toMatchObject({ code: 'INVALID_INPUT' });
      expect((serving as Error).message).toContain('serving version');
      for (const share of [0, -0.1, 1.5, Number.NaN, '0.5']) {
        const e = fail(() => clipper.setCanary('m', 2, share as number));
        expect(e).toBeInstanceOf(ConfigError);
        expect(e).toMatchObject({ fields: ['share'] });
      }
      expect(fail(() => clipper.clearCanary('nope'))).toMatchObject({ code: 'UNKNOWN_MODEL' });
      expect(clipper.getModel('m').canary).toEqual({ version: '2', share: 0.2 });
    });
  });
});
