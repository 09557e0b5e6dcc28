import { readTensorsArtifact } from '@geoml/core';
import { InProcessTransport, ModelRegistry } from '@geoml/transport';
import { describe, expect, it } from 'vitest';
import { calibrate } from '../src/cost-model.js';
import { publishModel } from '../src/publish.js';
import { train } from '../src/trainer.js';
import { quadraticWorkload } from './quadratic.js';

const cfg = {
  topology: 'vc' as const,
  workersPerRegion: 2,
  costModel: { stepMs: 5, batchSize: 8 },
  stop: { maxClocks: 10 },
  evalEvery: 5,
  mode: 'asp' as const,
};

describe('checkpoint, resume and publish', () => {
  it('checkpoints at each evaluation and resumes from a checkpoint where it left off', async () => {
    const checkpoints: { clock: number; value: number }[] = [];
    let last: Map<string, unknown> | undefined;
    const first = await train(
      { ...cfg, workload: quadraticWorkload() },
      {
        checkpoint: ({ clock, params }) => {
          checkpoints.push({ clock, value: (params.get('w')?.data[0] as number) ?? Number.NaN });
          last = params;
        },
      },
    );
    expect(checkpoints.map((c) => c.clock)).toEqual(first.series.map((p) => p.clock));
    expect(last).toBeDefined();
    const resumed = await train(
      { ...cfg, workload: quadraticWorkload() },
      { resume: { params: first.model, clock: 10 } },
    );
    const fresh = await train({ ...cfg, workload: quadraticWorkload(), stop: { maxClocks: 20 } });
    // resuming continues training: better than where it started, and on a par with one longer run
    expect(resumed.finalQuality.value).toBeLessThan(first.finalQuality.value);
    expect(resumed.series[0]?.value as number).toBeLessThan(first.series[0]?.value as number);
    expect(resumed.series[0]?.clock).toBe(15); // clocks go on from the checkpoint
    expect(Math.abs(resumed.finalQuality.value - fresh.finalQuality.value)).toBeLessThan(
      0.5 * fresh.finalQuality.value,
    );
  });

  it('publishes the trained model as a verified tensors artifact with its quality', async () => {
    const result = await train({ ...cfg, workload: quadraticWorkload() });
    const transport = new InProcessTransport();
    try {
      const registry = new ModelRegistry(transport);
      const artifact = await publishModel(registry, 'quadratic', result);
      expect(artifact.format).toBe('tensors');
      expect(artifact.metadata.quality).toEqual(result.finalQuality);
      const { artifact: got, files } = await registry.resolve('quadratic', 'latest');
      const params = readTensorsArtifact(got, files);
      expect([...(params.get('w')?.data ?? [])]).toEqual([...(result.model.get('w')?.data ?? [])]);
    } finally {
      await transport.close();
    }
  });

  it('measures the compute cost once when none is given, and records it with the result', async () => {
    const spec = await calibrate(quadraticWorkload(), { steps: 5 });
    expect(spec.stepMs).toBeGreaterThan(0);
    expect(spec.batchSize).toBe(8);
    expect(spec.measuredOn).toMatch(/node v/);
    const { costModel: _fixed, ...measured } = cfg;
    const r = await train({ ...measured, workload: quadraticWorkload() });
    expect(r.costModel.stepMs).toBeGreaterThan(0);
    expect(r.costModel.samples).toBe(15);
    expect(r.costModel.clock).toBe('cpu');
  });

  it('calibrates in CPU time by default, in wall time on request, and keeps the clock with the result', async () => {
    expect((await calibrate(quadraticWorkload(), { steps: 3 })).clock).toBe('cpu');
    const wall = await calibrate(quadraticWorkload(), { steps: 3, clock: 'wall' });
    expect(wall.clock).toBe('wall');
    const { costModel: _fixed, ...rest } = cfg;
    const r = await train({ ...rest, workload: quadraticWorkload(), costModel: wall });
    expect(r.costModel).toMatchObject({ stepMs: wall.stepMs, clock: 'wall' });
  });
});
