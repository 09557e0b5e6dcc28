import { ConfigError, createRng } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { GaiaError } from '../src/errors.js';
import { createMatrixFactorization } from '../src/matrix-factorization.js';
import { train } from '../src/trainer.js';
import { WorkloadError } from '../src/workload.js';
import { quadraticWorkload } from './quadratic.js';

// A fixed cost model keeps these runs identical on every machine (calibrate() measures the real one).
const costModel = { stepMs: 0.5, batchSize: 64 };

describe('train() on matrix factorization over the ss WAN', () => {
  it('ASP ships far fewer WAN bytes than BSP and reaches similar quality', async () => {
    const mf = { users: 1000, items: 500, rank: 8, density: 0.05, batchSize: 64 };
    const base = {
      topology: 'ss' as const,
      workersPerRegion: 2,
      costModel,
      stop: { maxClocks: 120 },
      evalEvery: 20,
    };
    const bsp = await train({ ...base, workload: createMatrixFactorization(mf), mode: 'bsp' });
    const asp = await train({ ...base, workload: createMatrixFactorization(mf), mode: 'asp' });
    const lan = await train({ ...base, workload: createMatrixFactorization(mf), mode: 'lan-bsp' });
    const int8 = await train({ ...base, workload: createMatrixFactorization(mf), mode: 'asp-int8' });
    expect(bsp.finalQuality.metric).toBe('rmse');
    expect(lan.wanBytes).toBe(0);
    expect(asp.wanBytes).toBeLessThan(0.35 * bsp.wanBytes);
    expect(Math.abs(asp.finalQuality.value - bsp.finalQuality.value)).toBeLessThan(
      0.03 * bsp.finalQuality.value,
    );
    // the BSP baseline waits on the WAN every clock; ASP does not cross it for reads
    expect(asp.elapsedS).toBeLessThan(bsp.elapsedS);
    expect(bsp.blocked.syncMs).toBeGreaterThan(0);
    // training made progress: quality improved over the run
    expect(asp.series.length).toBeGreaterThan(2);
    expect(asp.finalQuality.value).toBeLessThan(asp.series[0]?.value as number);
    expect(asp.fractionShipped).toBeGreaterThan(0);
    expect(asp.fractionShipped).toBeLessThanOrEqual(1);
    // int8 values with error feedback: under half of ASP's bytes (both code their indexes compactly, as
    // varints or a bitmap, so only the values shrink, 4 bytes to 1), same quality
    expect(int8.wanBytes).toBeLessThan(asp.wanBytes / 2);
    expect(asp.encodings?.sparse).toBeGreaterThan(0);
    expect((asp.encodings?.bitmap ?? 0) + (asp.encodings?.dense ?? 0)).toBeGreaterThan(0);
    expect(bsp.encodings).toBeUndefined();
    expect(Math.abs(int8.finalQuality.value - asp.finalQuality.value)).toBeLessThan(
      0.01 * asp.finalQuality.value,
    );
  });
});

describe('train() in virtual time', () => {
  const cfg = {
    topology: 'vc' as const,
    workersPerRegion: 2,
    costModel: { stepMs: 5, batchSize: 8 },
    stop: { maxClocks: 30 },
    evalEvery: 5,
  };

  it('repeats exactly: same seed, same quality, series and bytes', async () => {
    const a = await train({ ...cfg, workload: quadraticWorkload(), mode: 'asp', seed: 7 });
    const b = await train({ ...cfg, workload: quadraticWorkload(), mode: 'asp', seed: 7 });
    expect(b.finalQuality).toEqual(a.finalQuality);
    expect(b.series).toEqual(a.series);
    expect(b.wanBytes).toBe(a.wanBytes);
    expect(b.wanMessages).toBe(a.wanMessages);
    expect(b.elapsedS).toBe(a.elapsedS);
    expect([...(b.model.get('w')?.data ?? [])]).toEqual([...(a.model.get('w')?.data ?? [])]);
    const c = await train({ ...cfg, workload: quadraticWorkload(), mode: 'asp', seed: 8 });
    expect(c.finalQuality.value).not.toBe(a.finalQuality.value);
  });

  it('runs every mode to its last clock, and the mirror clock (DS) paces ASP', async () => {
    for (const mode of ['lan-bsp', 'bsp', 'ssp', 'tap', 'asp', 'asp-async', 'asp-int8'] as const) {
      const r = await train({ ...cfg, workload: quadraticWorkload(), mode });
      expect(r.clocks, mode).toEqual({ min: 30, max: 30 });
      expect(r.finalQuality.value, mode).toBeLessThan(r.series[0]?.value as number);
    }
    const ds0 = await train({ ...cfg, workload: quadraticWorkload(), mode: 'asp', ds: 0 });
    const ds3 = await train({ ...cfg, workload: quadraticWorkload(), mode: 'asp', ds: 3 });
    expect(ds0.blocked.mirrorMs).toBeGreaterThan(ds3.blocked.mirrorMs);
    expect(ds3.elapsedS).toBeLessThan(ds0.elapsedS);
    const async = await train({ ...cfg, workload: quadraticWorkload(), mode: 'asp-async' });
    expect(async.blocked.mirrorMs).toBe(0);
  });

  it('a WAN budget raises the significance threshold and cuts the bytes shipped', async () => {
    const free = await train({ ...cfg, workload: quadraticWorkload(), mode: 'asp', stop: { maxClocks: 40 } });
    const capped = await train({
      ...cfg,
      workload: quadraticWorkload(),
      mode: 'asp',
      stop: { maxClocks: 40 },
      budgetMbps: 0.001,
    });
    expect(capped.wanBytes).toBeLessThan(free.wanBytes);
    expect(capped.fractionShipped).toBeLessThan(free.fractionShipped);
  });

  it('on a congested link the selective barrier holds reads until announced values arrive', async () => {
    const slow = {
      ...cfg,
      topology: 'ss' as const,
      profileOptions: { wanScale: 0.01 },
      workload: quadraticWorkload({ size: 4096 }),
      mode: 'asp' as const,
      // DS 0 would hold each region to the data that arrived (a clock counts once its data is in), so
      // no queue could build; 8 lets each region run 8 clocks ahead of what the link delivered.
      ds: 8,
      stop: { maxClocks: 40 },
    };
    // The default bound: on this link the queue, not just bytes in flight, outgrows it.
    const barrier = await train(slow);
    const none = await train({ ...slow, workload: quadraticWorkload({ size: 4096 }), barrierBytes: 1e12 });
    expect(barrier.blocked.barrierMs).toBeGreaterThan(0);
    expect(barrier.announcements).toBeGreaterThan(0);
    expect(none.blocked.barrierMs).toBe(0);
    expect(none.announcements).toBe(0);
    // the indexes went ahead as extra control messages
    expect(barrier.wanMessages).toBeGreaterThan(none.wanMessages);
  });

  it('stops at the time limit', async () => {
    const r = await train({
      ...cfg,
      topology: 'ss',
      workload: quadraticWorkload(),
      mode: 'bsp',
      stop: { maxClocks: 1000, maxTimeS: 5 },
    });
    expect(r.clocks.max).toBeLessThan(1000);
    expect(r.elapsedS).toBeGreaterThanOrEqual(5);
    expect(r.elapsedS).toBeLessThan(6);
  });

  it('stops at the target quality and reports the time it took', async () => {
    const r = await train({
      ...cfg,
      workload: quadraticWorkload(),
      mode: 'asp',
      stop: { maxClocks: 500, targetQuality: 0.2 },
      evalEvery: 2,
    });
    expect(r.reachedTarget).toBe(true);
    expect(r.timeToTargetS).toBeGreaterThan(0);
    expect(r.clocks.max).toBeLessThan(500);
  });
});

describe('train() refuses bad input', () => {
  it('names the bad field of a malformed config', async () => {
    const workload = quadraticWorkload();
    const bad = async (input: object, field: string) => {
      const error = await train({ workload, mode: 'asp', costModel, ...input } as never).catch((e) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).fields).toContain(field);
      expect((error as Error).message).toContain(field);
    };
    await bad({ mode: 'fast' }, 'mode');
    await bad({ workersPerRegion: 0 }, 'workersPerRegion');
    await bad({ ds: -1 }, 'ds');
    await bad({ stop: { maxClocks: 'ten' } }, 'stop.maxClocks');
    await bad({ workload: { model: 1 } }, 'workload');
    await bad({ topology: 'mars' }, 'topology');
  });

  it('a diverging model ends the run with GaiaError DIVERGED naming worker, clock and what to lower', async () => {
    const base = {
      topology: { regions: ['a', 'b'] },
      costModel,
      stop: { maxClocks: 20 },
      mode: 'asp' as const,
      ds: 2,
    };
    // SGD at learning rate 3 overflows within a few batches (its step is stable only while lr·|row|² < 2).
    const mf = { users: 200, items: 100, rank: 3, density: 0.1, batchSize: 256, learningRate: 3 };
    const error = await train({ ...base, workload: createMatrixFactorization(mf) }).catch((e) => e);
    expect(error).toBeInstanceOf(GaiaError);
    expect((error as GaiaError).code).toBe('DIVERGED');
    expect((error as Error).message).toMatch(/^worker \S+ at clock \d+: matrix factorization SGD diverged/);
    expect((error as Error).message).toContain('up to ds = 2 clocks across 2 regions');
    expect((error as GaiaError).cause).toBeInstanceOf(WorkloadError);

    // Replicas that overflowed (finite updates adding up past float32) are a divergence too.
    const quad = await train({ ...base, workload: quadraticWorkload({ lr: 7e37 }) }).catch((e) => e);
    expect(quad).toBeInstanceOf(GaiaError);
    expect((quad as GaiaError).code).toBe('DIVERGED');
    expect((quad as Error).message).toMatch(
      /at clock \d+: the parameters it read hold \d+ non-finite values/,
    );

    // A quality that is no longer finite stops the run at that evaluation.
    const lost = quadraticWorkload();
    Object.assign(lost.model, {
      evaluate: () => ({ metric: 'rmse', value: Number.POSITIVE_INFINITY, higherIsBetter: false }),
    });
    const evalError = await train({ ...base, workload: lost, evalEvery: 5 }).catch((e) => e);
    expect(evalError).toBeInstanceOf(GaiaError);
    expect((evalError as GaiaError).code).toBe('DIVERGED');
    expect((evalError as Error).message).toMatch(/^the model diverged: its rmse is Infinity at clock 5; /);

    // With `skip` the diverged steps are dropped and counted, and the run goes to its last clock.
    const skipped = await train({ ...base, workload: createMatrixFactorization(mf), onBadUpdate: 'skip' });
    expect(skipped.rejectedUpdates).toBeGreaterThan(0);
    expect(skipped.clocks).toEqual({ min: 20, max: 20 });
  });

  it('rejects an update holding NaN: the run fails with GaiaError and no replica changes', async () => {
    const base = {
      topology: { regions: ['a', 'b'] },
      costModel,
      stop: { maxClocks: 10 },
    };
    const error = await train({ ...base, workload: quadraticWorkload({ nanAtStep: 4 }), mode: 'asp' }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(GaiaError);
    expect((error as GaiaError).code).toBe('NON_FINITE_UPDATE');

    // With `skip`, every update is NaN: all are dropped, and every replica keeps its initial values.
    const skipped = await train({
      ...base,
      workload: quadraticWorkload({ nanAtStep: 1 }),
      mode: 'asp',
      onBadUpdate: 'skip',
    });
    const init = quadraticWorkload().model.init(createRng(1).fork('init'));
    expect(skipped.rejectedUpdates).toBe(2 * 2 * 10);
    expect([...(skipped.model.get('w')?.data ?? [])]).toEqual([...(init.get('w')?.data ?? [])]);
    expect(skipped.clocks).toEqual({ min: 10, max: 10 });
  });
});
