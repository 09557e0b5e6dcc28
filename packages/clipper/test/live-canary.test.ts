import type { Tensor } from '@geoml/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { ArtifactFiles } from '../src/artifact-loader.js';
import type { HotLoadEvent } from '../src/hot-load-events.js';
import { CanaryRefused, canaryVerdict } from '../src/live-canary.js';
import { OnnxPredictor } from '../src/onnx-predictor.js';
import {
  closedLoop,
  MODEL,
  nextEvent,
  publishOnnx,
  registerApp,
  runCleanups,
  setup,
  V1,
  V2,
} from './hot-load-fixtures.js';

afterEach(runCleanups);

type Query = Record<string, Tensor>;

/** A real ONNX container that warms up fine but fails every live query: broken only under traffic. */
class FailsLive extends OnnxPredictor {
  override async predict(_inputs: readonly Query[]): Promise<Query[]> {
    throw new Error('this version fails on live traffic');
  }
}

/** Loads version 2 as `FailsLive`, every other version as a plain OnnxPredictor. */
const loaders = {
  onnx: async ({ artifact, files }: ArtifactFiles) => {
    const bytes = files['model.onnx']!;
    if (artifact.version !== 2) return OnnxPredictor.create(bytes);
    const p = new FailsLive();
    await p.load(bytes);
    return p;
  },
};

const live = { canaryShare: 0.5, canaryDurationMs: 300, canaryMinQueries: 20, canaryMaxMs: 20_000 };

describe('live canary (canaryShare)', () => {
  it('gives a good version its share of live traffic, then swaps it in', async () => {
    const { registry, clipper, loader, events } = setup(undefined, 2);
    await publishOnnx(registry, V1.bytes);
    await loader.watch(MODEL, live);
    registerApp(clipper);

    let done = false;
    const swapped = nextEvent(loader, (e) => e.type === 'disposed' || e.type === 'failed').then((e) => {
      done = true;
      return e;
    });
    const load = closedLoop(clipper, 3, () => done);
    await publishOnnx(registry, V2.bytes);
    expect((await swapped).type).toBe('disposed');
    const stats = await load;

    expect(stats.defaults).toBe(0);
    expect(stats.wrong).toBe(0);
    const canary = events.filter((e): e is Extract<HotLoadEvent, { type: 'canary' }> => e.type === 'canary');
    expect(canary.map((e) => e.phase)).toEqual(['started', 'passed']);
    const report = canary[1]!.report!;
    // Both versions answered live queries during the split, about half each, none defaulted.
    expect(report.canary.answered).toBeGreaterThanOrEqual(20);
    expect(Math.abs(report.canary.answered - report.serving.answered)).toBeLessThanOrEqual(
      2 + report.canary.answered * 0.2,
    );
    expect(report.canary.defaulted + report.serving.defaulted).toBe(0);
    expect(events.map((e) => e.type).slice(-3)).toEqual(['loaded', 'swapped', 'disposed']);
    expect(clipper.getModel(MODEL).servingVersion).toBe('2');
    expect(clipper.getModel(MODEL).canary).toBeUndefined();
  });

  it('refuses a version that fails live queries on its first failures; the serving version is untouched', async () => {
    const { registry, clipper, loader, events } = setup(undefined, 2);
    await publishOnnx(registry, V1.bytes);
    await loader.watch(MODEL, { ...live, canaryDurationMs: 10_000, loader: { loaders } });
    registerApp(clipper);

    let done = false;
    const failed = nextEvent(loader, (e) => e.type === 'failed').then((e) => {
      done = true;
      return e;
    });
    const load = closedLoop(clipper, 3, () => done);
    await publishOnnx(registry, V2.bytes);
    const failure = await failed;
    const stats = await load;

    expect(failure).toMatchObject({ type: 'failed', version: '2', stage: 'canary' });
    expect((failure as { error: Error }).error).toBeInstanceOf(CanaryRefused);
    expect((failure as { error: Error }).error.message).toMatch(
      /live canary refused: \d+ of its \d+ live queries failed/,
    );
    const info = clipper.getModel(MODEL);
    expect(info.servingVersion).toBe('1');
    expect(info.canary).toBeUndefined();
    expect(info.versions.map((v) => v.version)).toEqual(['1']); // v2 undeployed
    expect(info.versions[0]!.stats.failed).toBe(0);
    expect(info.versions[0]!.stats.defaulted).toBe(0);
    // The canary's failures count against v2 (the judgement ran on those, not on a 10 s window), but
    // callers in its share got v1's answer: a failed canary query is retried on the serving version.
    const report = (failure as unknown as { error: CanaryRefused }).error.report;
    expect(report.canary.failed).toBeGreaterThan(0);
    expect(report.serving.defaulted).toBe(0);
    expect(stats.defaults).toBe(0);
    expect(stats.byVersion.get('2') ?? 0).toBe(0);
    expect(events.some((e) => e.type === 'swapped' && e.to === '2')).toBe(false);

    // The watch goes on, and traffic after the refusal is all v1's.
    const after = await closedLoop(clipper, 2, () => false, 200);
    expect(after.defaults).toBe(0);
    expect([...after.byVersion.keys()]).toEqual(['1']);
  });

  it('refuses a live canary that gets too few queries to be judged', async () => {
    const { registry, clipper, loader } = setup(undefined, 2);
    await publishOnnx(registry, V1.bytes);
    await loader.watch(MODEL, { ...live, canaryMaxMs: 200 });
    registerApp(clipper);
    const failed = nextEvent(loader, (e) => e.type === 'failed');
    await publishOnnx(registry, V2.bytes); // no traffic at all
    const failure = (await failed) as { stage: string; error: Error };
    expect(failure.stage).toBe('canary');
    expect(failure.error.message).toMatch(/fewer than canaryMinQueries \(20\)/);
    expect(clipper.getModel(MODEL).servingVersion).toBe('1');
  });

  it('judges on counts: no worse than the serving share plus the margin', () => {
    const s = (answered: number, defaulted: number, failed = 0) => ({ answered, defaulted, failed });
    expect(canaryVerdict({ canary: s(100, 0), serving: s(100, 0) }, 0.01)).toBeUndefined();
    expect(canaryVerdict({ canary: s(1, 1, 1), serving: s(100, 0) }, 0.01)).toMatch(
      /1 of its 2 live queries failed/,
    );
    // Expiry (defaulted, not failed) as often as the serving version, within the margin: accepted.
    expect(canaryVerdict({ canary: s(96, 4), serving: s(95, 5) }, 0.01)).toBeUndefined();
    expect(canaryVerdict({ canary: s(90, 10), serving: s(95, 5) }, 0.01)).toMatch(
      /10 of its 100 live queries defaulted/,
    );
  });
});
