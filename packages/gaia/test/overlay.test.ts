import { ConfigError, VirtualClock } from '@geoml/core';
import { EC2_11_REGIONS, EmulatedNetwork, InProcessHub, topologyProfile } from '@geoml/transport';
import { describe, expect, it } from 'vitest';
import { createMatrixFactorization } from '../src/matrix-factorization.js';
import { Mirror } from '../src/mirror.js';
import { type Overlay, overlayRole, resolveOverlay } from '../src/overlay.js';
import { ParameterShard, type SparseDelta } from '../src/parameter-shard.js';
import { train } from '../src/trainer.js';
import { quadraticWorkload } from './quadratic.js';

const REGIONS: string[] = [...EC2_11_REGIONS];
const SIZE = 96;

/** One shard per ec2-11 region, mirrored all-to-all or over an overlay, on the emulated WAN. */
function world(overlay: Overlay, ds: number | null, tau0 = 0) {
  const clock = new VirtualClock();
  const network = new EmulatedNetwork({ topology: topologyProfile('ec2-11'), clock });
  const hub = new InProcessHub({ clock, network });
  const groups = resolveOverlay(overlay, REGIONS, 'asp');
  const init = Float32Array.from({ length: SIZE }, (_, i) => 1 + (i % 5));
  const nodes = new Map(
    REGIONS.map((region) => {
      const shard = new ParameterShard({ lo: 0, hi: SIZE }, init);
      const role = groups ? overlayRole(groups, region) : undefined;
      const mirror = new Mirror(hub.connect(region), clock, shard, {
        region,
        peers: role ? role.groupPeers : REGIONS.filter((r) => r !== region),
        ...(role ? { overlay: { hub: role.hub, otherHubs: role.otherHubs } } : {}),
        subjectOf: (r) => `m.${r}`,
        ds,
        barrier: true,
        barrierBytes: 64,
        filter: { tau0 },
        // Regions end at clock 5: their last shipments are never acknowledged, and need no resend.
        lastClock: 5,
      });
      mirror.start();
      return [region, { shard, mirror }] as const;
    }),
  );
  /** Region `r`'s local update at clock `t`: sparse, in 1/64 steps so every sum is exact in float32. */
  const update = (r: number, t: number): SparseDelta => {
    const keys: number[] = [];
    for (let i = 0; i < SIZE; i++) if ((i + r + t) % 3 === 0) keys.push(i);
    return {
      indices: Uint32Array.from(keys),
      values: Float32Array.from(keys, (i) => (((r * 7 + t * 3 + i) % 9) - 4) / 64),
    };
  };
  /** Region `r` (index) trains clock `t`: applies its update, then its mirror ticks. */
  const step = (r: number, t: number) => {
    const n = nodes.get(REGIONS[r] as string);
    if (!n) throw new Error('no region');
    const u = update(r, t);
    n.shard.apply(u);
    n.mirror.accumulate(u);
    n.mirror.tick(t);
  };
  /** Every region trains `clocks` clocks in step, then the WAN drains. */
  const runAll = (clocks: number) =>
    clock.run(async () => {
      for (let t = 1; t <= clocks; t++) {
        for (let r = 0; r < REGIONS.length; r++) step(r, t);
        await clock.sleep(400);
      }
      await clock.sleep(5_000);
    });
  const wanBytes = () =>
    network
      .stats()
      .filter((l) => l.from !== l.to)
      .reduce((n, l) => n + l.bytes + l.controlBytes, 0);
  return { clock, nodes, init, update, step, runAll, wanBytes };
}

describe('overlay configuration', () => {
  const check = (overlay: unknown, regions: string[], field: string, mode = 'asp') => {
    const error = (() => {
      try {
        resolveOverlay(overlay as Overlay, regions, mode);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).fields).toEqual([field]);
    expect((error as Error).message).toContain(field);
  };

  it('names the field of an unknown region, a region in two groups, a missing region, a non-ASP mode', () => {
    const abc = ['a', 'b', 'c'];
    check({ groups: [{ hub: 'a', members: ['b', 'x'] }] }, abc, 'overlay.groups.0.members.1');
    check({ groups: [{ hub: 'z', members: [] }] }, abc, 'overlay.groups.0.hub');
    check(
      {
        groups: [
          { hub: 'a', members: ['b'] },
          { hub: 'c', members: ['b'] },
        ],
      },
      abc,
      'overlay.groups.1.members.0',
    );
    check({ groups: [{ hub: 'a', members: ['b'] }] }, abc, 'overlay.groups');
    check({ groups: [{ hub: 'a', members: ['b', 'c'] }] }, abc, 'overlay', 'bsp');
    check('gaia-ec2-11', REGIONS.slice(0, 5), 'overlay');
    expect(resolveOverlay('none', abc, 'bsp')).toBeUndefined();
    expect(resolveOverlay('gaia-ec2-11', REGIONS, 'asp')?.map((g) => g.hub)).toEqual([
      'virginia',
      'tokyo',
      'frankfurt',
    ]);
  });

  it('train() refuses a bad overlay naming the field', async () => {
    const base = { workload: quadraticWorkload(), costModel: { stepMs: 1, batchSize: 8 } };
    const bad = async (input: object, field: string) => {
      const error = await train({ ...base, ...input } as never).catch((e) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).fields).toContain(field);
    };
    await bad({ mode: 'asp', topology: 'vc', overlay: { groups: [{ hub: 'virginia' }] } }, 'overlay');
    await bad({ mode: 'asp', topology: 'vc', overlay: 'ring' }, 'overlay');
    await bad({ mode: 'bsp', topology: 'ec2-11', overlay: 'gaia-ec2-11' }, 'overlay');
    await bad(
      { mode: 'asp', topology: 'vc', overlay: { groups: [{ hub: 'virginia', members: ['tokyo'] }] } },
      'overlay.groups.0.members.0',
    );
  });
});

describe('mirrors over the overlay', () => {
  for (const overlay of ['none', 'gaia-ec2-11'] as const) {
    it(`${overlay}: after quiescence every region holds exactly every region's updates, each once`, async () => {
      const w = world(overlay, 0);
      await w.runAll(5);
      const want = Float32Array.from(w.init);
      for (let t = 1; t <= 5; t++) {
        for (let r = 0; r < REGIONS.length; r++) {
          const u = w.update(r, t);
          u.indices.forEach((i, j) => {
            want[i] = (want[i] as number) + (u.values[j] as number);
          });
        }
      }
      for (const [region, n] of w.nodes) {
        expect([...n.shard.values], region).toEqual([...want]);
        expect(n.mirror.rejected, region).toBe(0);
      }
    });
  }

  it('the 3-group overlay carries the same updates in fewer WAN bytes', async () => {
    const bytes: number[] = [];
    for (const overlay of ['none', 'gaia-ec2-11'] as const) {
      const w = world(overlay, 0);
      await w.runAll(5);
      bytes.push(w.wanBytes());
    }
    expect(bytes[1]).toBeLessThan(0.6 * (bytes[0] as number));
  });

  it('DS bounds staleness across the hub hop: a reader waits for a region of another group', async () => {
    const w = world('gaia-ec2-11', 0);
    const mumbai = REGIONS.indexOf('mumbai'); // group of frankfurt
    const allows = (region: string, t: number) => w.nodes.get(region)?.mirror.mirrorClock?.allows(t);
    await w.clock.run(async () => {
      for (let r = 0; r < REGIONS.length; r++) if (r !== mumbai) w.step(r, 1);
      await w.clock.sleep(3_000);
      // mumbai has not reached clock 1: no region may read at clock 1 (DS = 0), wherever it is
      for (const region of REGIONS) {
        if (region === 'mumbai') continue;
        expect(allows(region, 1), region).toBe(false);
        expect(allows(region, 0), region).toBe(true);
      }
      w.step(mumbai, 1);
      await w.clock.sleep(3_000);
      for (const region of REGIONS) expect(allows(region, 1), region).toBe(true);
      // and by then mumbai's clock-1 update is in every replica (it travelled member -> hub -> hub -> member)
      const u = w.update(mumbai, 1);
      const sao = w.nodes.get('sao-paulo')?.shard.values as Float32Array;
      const i = u.indices[0] as number;
      let others = 0;
      for (let r = 0; r < REGIONS.length; r++) {
        const v = w.update(r, 1);
        const j = v.indices.indexOf(i);
        if (j >= 0) others += v.values[j] as number;
      }
      expect(sao[i]).toBe((w.init[i] as number) + others);
    });
  });
});

describe('train() with the overlay', () => {
  it("on ec2-11, the authors' 3 groups send fewer WAN bytes than all-to-all at the same quality", async () => {
    const base = {
      topology: 'ec2-11' as const,
      workersPerRegion: 1,
      costModel: { stepMs: 15, batchSize: 64 },
      stop: { maxClocks: 12 },
      evalEvery: 4,
    };
    const mf = { users: 400, items: 200, rank: 4, density: 0.05, batchSize: 64 };
    const all = await train({ ...base, workload: createMatrixFactorization(mf), mode: 'asp' });
    const hubs = await train({
      ...base,
      workload: createMatrixFactorization(mf),
      mode: 'asp',
      overlay: 'gaia-ec2-11',
    });
    expect(hubs.wanBytes).toBeLessThan(all.wanBytes);
    expect(hubs.clocks).toEqual({ min: 12, max: 12 });
    expect(Math.abs(hubs.finalQuality.value - all.finalQuality.value)).toBeLessThan(
      0.01 * all.finalQuality.value,
    );
    // the hubs' aggregates went out too
    expect((hubs.encodings?.sparse ?? 0) + (hubs.encodings?.bitmap ?? 0)).toBeGreaterThan(
      (all.encodings?.sparse ?? 0) + (all.encodings?.bitmap ?? 0),
    );
  });

  it('explicit groups over plain regions, in wall time and under every ASP mode, train to the last clock', async () => {
    const overlay = {
      groups: [
        { hub: 'a', members: ['b'] },
        { hub: 'c', members: ['d', 'e'] },
        { hub: 'f', members: [] },
      ],
    };
    for (const mode of ['asp', 'asp-int8', 'asp-async'] as const) {
      const r = await train({
        workload: quadraticWorkload(),
        mode,
        topology: { regions: ['a', 'b', 'c', 'd', 'e', 'f'] },
        workersPerRegion: 1,
        costModel: { stepMs: 0, batchSize: 8 },
        stop: { maxClocks: 15 },
        time: 'wall',
        overlay,
      });
      expect(r.clocks, mode).toEqual({ min: 15, max: 15 });
      expect(r.finalQuality.value, mode).toBeLessThan(r.series[0]?.value as number);
      expect(r.rejectedUpdates, mode).toBe(0);
    }
  });
});
