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

  it('counts a failing canary as defaulted and failed, and its share still holds', async () => {
    await withVersions(async (clipper) => {
      const broken = new FunctionPredictor<number, number>(() => {
        throw new Error('weights corrupt');
      });
      await clipper.deployModel('m', 'bad', [broken], { activate: false, cache: false });
      clipper.setCanary('m', 'bad', 0.25);
      const results = [];
      for (let i = 0; i < 40; i++) results.push(await clipper.predict('app', i));
      const defaulted = results.filter((r) => r.default);
      expect(defaulted).toHaveLength(10);
      expect(defaulted[0]).toMatchObject({ output: -1, version: 'bad', defaultReason: 'model-error' });
      expect(statsOf(clipper, 'bad')).toEqual({ answered: 0, defaulted: 10, failed: 10 });
      expect(statsOf(clipper, '1')).toEqual({ answered: 30, defaulted: 0, failed: 0 });
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
