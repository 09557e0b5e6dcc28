import { setMaxListeners } from 'node:events';
import {
  type Clock,
  ConfigError,
  createRng,
  parseConfig,
  type Quality,
  systemClock,
  VectorClock,
  VirtualClock,
} from '@geoml/core';
import type { ProfileOptions, Transport } from '@geoml/transport';
import { CostModel, type CostModelSpec, calibrate } from './cost-model.js';
import { type Mode, planDeployment, type RegionPlan } from './deployment.js';
import { divergedQuality, withDivergenceAdvice } from './divergence.js';
import { GaiaError } from './errors.js';
import { LinkMeter } from './link-meter.js';
import type { Mirror } from './mirror.js';
import { resolveOverlay } from './overlay.js';
import { ParameterLayout } from './param-layout.js';
import { Region } from './region.js';
import { rendezvous } from './rendezvous.js';
import type { BlockedTime } from './shard-server.js';
import { createEmulation } from './topology.js';
import { type TrainConfig, type TrainConfigInput, trainConfigSchema } from './train-config.js';
import type { ProgressEvent, QualityPoint, TrainOptions, TrainResult } from './train-types.js';
import { type LayoutCounts, noLayouts, type UpdateLayout } from './update-coding.js';

export type { ProgressEvent, QualityPoint, TrainOptions, TrainResult };

/**
 * Trains `config.workload` across regions in `config.mode` and returns the run's measures. In virtual
 * time (the default) the same config and seed give the same numbers on any machine.
 */
export async function train(input: TrainConfigInput, options: TrainOptions = {}): Promise<TrainResult> {
  const cfg = parseConfig(trainConfigSchema, input, 'gaia train config');
  const clock = options.clock ?? (cfg.time === 'virtual' ? new VirtualClock() : systemClock);
  const costSpec = cfg.costModel ?? (await calibrate(cfg.workload, { seed: cfg.seed }));
  const body = () => execute(cfg, clock, costSpec, options);
  return clock instanceof VirtualClock ? clock.run(body) : body();
}

async function execute(
  cfg: TrainConfig,
  clock: Clock,
  costSpec: CostModelSpec,
  options: TrainOptions,
): Promise<TrainResult> {
  const { workload } = cfg;
  const { model } = workload;
  const track = clock instanceof VirtualClock ? <T>(p: Promise<T>) => clock.track(p) : undefined;
  const rng = createRng(cfg.seed);
  const init = model.init(rng.fork('init'));
  const layout = new ParameterLayout(init);
  const initial = layout.flatten(options.resume?.params ?? init);
  const offset = options.resume?.clock ?? 0;
  const topo = createEmulation(
    cfg.topology,
    clock,
    options.network,
    cfg.regions,
    cfg.profileOptions as ProfileOptions | undefined,
  );
  const connect = options.connect ?? topo.connect;
  const W = cfg.workersPerRegion;
  const groups = resolveOverlay(cfg.overlay, topo.regions, cfg.mode);
  const plans = planDeployment({
    run: cfg.run,
    mode: cfg.mode,
    regions: topo.regions,
    workersPerRegion: W,
    shardsPerRegion: cfg.shardsPerRegion,
    layout,
    staleness: cfg.staleness,
    intra: cfg.intra,
    ds: cfg.ds,
    tau0: cfg.tau0,
    barrierBytes: cfg.barrierBytes,
    clockOffset: offset,
    lastClock: offset + cfg.stop.maxClocks,
    resend: {
      minMs: cfg.resend.minTimeoutMs,
      initialMs: cfg.resend.initialTimeoutMs,
      giveUpMs: cfg.resend.giveUpS * 1000,
    },
    ...(cfg.budgetMbps ? { budgetMbps: cfg.budgetMbps, budgetRule: cfg.budgetRule } : {}),
    ...(groups ? { groups } : {}),
  });
  const here = localPlans(plans, cfg.mode, options.regions);
  const data = workload.shards(topo.regions.length, W, cfg.split);
  const meter = new LinkMeter();
  const stop = new AbortController();
  // Every waiting read and sleep listens on the run's signal: many listeners are expected.
  setMaxListeners(0, stop.signal);
  const workerIds = here.flatMap((p) => p.workers.map((w) => w.id));
  const progress = new VectorClock(workerIds);
  const transports = here.map((p) => connect(p.region));
  // A peer region given up on (`LINK_LOST`): the run ends with it rather than waiting forever.
  let linkLost: GaiaError | undefined;
  const start = clock.now();
  const seconds = () => (clock.now() - start) / 1000;
  const regions = here.map(
    (plan, i) =>
      new Region({
        plan,
        transport: transports[i] as Transport,
        clock,
        model,
        layout,
        initial,
        data,
        rng: rng.fork(`workers@${offset}`),
        cost: new CostModel(costSpec),
        batchSize: workload.batchSize,
        clocks: cfg.stop.maxClocks,
        onBadUpdate: cfg.onBadUpdate,
        meter,
        signal: stop.signal,
        ...(track ? { track } : {}),
        onClock: (w, c) => onClock(w, c),
        onFailure: (e) => {
          linkLost ??= e;
          stop.abort(e);
        },
      }),
  );
  // The replica judged: the first region's under ASP, the one spread-out server otherwise.
  const judged = plans[0]?.shards.some((s) => s.mirror) ? [regions[0] as Region<unknown>] : regions;
  const snapshot = () => {
    const flat = new Float32Array(layout.size);
    for (const r of judged) r.snapshotInto(flat);
    return flat;
  };
  const blocked = (): BlockedTime => {
    const b: BlockedTime = { syncMs: 0, mirrorMs: 0, barrierMs: 0 };
    for (const r of regions) {
      const x = r.blocked();
      b.syncMs += x.syncMs;
      b.mirrorMs += x.mirrorMs;
      b.barrierMs += x.barrierMs;
    }
    return b;
  };
  const mirrors = () => regions.flatMap((r) => r.servers.flatMap((s) => (s.mirror ? [s.mirror] : [])));
  const fractionShipped = () => {
    const ms = mirrors();
    const acc = ms.reduce((n, m) => n + m.filter.stats.accumulated, 0);
    return ms.length === 0 ? 1 : acc === 0 ? 0 : ms.reduce((n, m) => n + m.filter.stats.shipped, 0) / acc;
  };
  const thresholdRaise = () => Math.max(0, ...mirrors().map((m) => m.controller?.raise ?? 0));
  const evaluate = async (params: Float32Array): Promise<Quality> => {
    const q = model.evaluate(layout.unflatten(params));
    return q instanceof Promise && track ? track(q) : q;
  };
  const reached = (q: Quality) =>
    cfg.stop.targetQuality !== undefined &&
    (q.higherIsBetter ? q.value >= cfg.stop.targetQuality : q.value <= cfg.stop.targetQuality);

  // The emulated network's own count (headers included) when the run uses it; else the engine's.
  const wan = () => (!options.connect && topo.wan ? topo.wan() : meter.wan());
  const series: QualityPoint[] = [];
  let timeToTargetS: number | null = null;
  let evaluated = 0;
  let evalChain: Promise<void> = Promise.resolve();
  let diverged: GaiaError | undefined;
  function onClock(worker: string, c: number): void {
    if (!progress.advance(worker, c)) return;
    const g = progress.min();
    if (g < evaluated + cfg.evalEvery) return;
    evaluated = g - (g % cfg.evalEvery);
    const params = snapshot();
    const at = { clock: g + offset, timeS: seconds() };
    evalChain = evalChain.then(async () => {
      const quality = await evaluate(params);
      diverged ??= divergedQuality(quality, at.clock, cfg, topo.regions.length);
      if (diverged) {
        stop.abort(diverged);
        return;
      }
      const saved = options.checkpoint?.({ ...at, params: layout.unflatten(params) });
      // Real I/O (a registry, a file) must hold virtual time still while it runs.
      if (saved instanceof Promise) await (track ? track(saved) : saved);
      series.push({ ...at, value: quality.value });
      if (timeToTargetS === null && reached(quality)) {
        timeToTargetS = at.timeS;
        if (cfg.stop.atTarget) stop.abort(new GaiaError('STOPPED', 'target quality reached'));
      }
      options.onProgress?.({
        ...at,
        quality,
        wanBytes: wan().bytes,
        links: meter.stats(),
        blocked: blocked(),
        fractionShipped: fractionShipped(),
        ...(cfg.budgetMbps ? { thresholdRaise: thresholdRaise() } : {}),
      });
    });
  }

  if (cfg.stop.maxTimeS !== undefined) {
    clock
      .sleep(cfg.stop.maxTimeS * 1000, stop.signal)
      .then(() => stop.abort(new GaiaError('STOPPED', 'time limit reached')))
      .catch(() => {});
  }
  for (const r of regions) r.start();
  try {
    if (options.regions) {
      const all = plans.map((p) => p.region);
      await Promise.all(
        regions.map((r, i) =>
          rendezvous(transports[i] as Transport, clock, `gaia.${cfg.run}.hello`, r.name, all, {
            signal: stop.signal,
          }),
        ),
      );
    }
    await Promise.all(
      regions.map((r) =>
        r.run().catch((e) => {
          const error = withDivergenceAdvice(e, cfg, topo.regions.length);
          stop.abort(error);
          throw error;
        }),
      ),
    );
    await evalChain;
    if (diverged) throw diverged;
    if (linkLost) throw linkLost;
  } finally {
    if (!stop.signal.aborted) stop.abort(new GaiaError('STOPPED', 'run finished'));
    for (const r of regions) r.stop();
    if (!options.connect) await Promise.all(transports.map((t) => t.close()));
  }
  const elapsedS = seconds();
  const finalParams = snapshot();
  const finalQuality = await evaluate(finalParams);
  const totals = wan();
  let entries = 0;
  let below = 0;
  for (const r of regions) {
    for (const s of r.servers) {
      entries += s.shard.stats.entries;
      below += s.shard.stats.belowOnePercent;
    }
  }
  const clocks = workerIds.map((id) => progress.get(id));
  return {
    mode: cfg.mode,
    regions: here.map((p) => p.region),
    workersPerRegion: W,
    params: layout.size,
    reachedTarget: timeToTargetS !== null,
    timeToTargetS,
    elapsedS,
    clocks: { min: Math.min(...clocks), max: Math.max(...clocks) },
    finalQuality,
    series,
    wanBytes: totals.bytes,
    wanMessages: totals.messages,
    links: meter.stats(),
    fractionShipped: fractionShipped(),
    ...(mirrors().length > 0
      ? {
          encodings: layoutCounts(mirrors()),
          announcements: mirrors().reduce((n, m) => n + m.announced, 0),
          resent: {
            messages: regions.reduce((n, r) => n + r.resent.messages, 0),
            duplicates: regions.reduce((n, r) => n + r.resent.duplicates, 0),
          },
        }
      : {}),
    fractionBelowOnePercent: entries === 0 ? 0 : below / entries,
    blocked: blocked(),
    rejectedUpdates:
      regions.reduce((n, r) => n + r.workers.reduce((m, w) => m + w.rejected, 0), 0) +
      regions.reduce(
        (n, r) => n + r.servers.reduce((m, s) => m + s.rejected + (s.mirror?.rejected ?? 0), 0),
        0,
      ),
    costModel: costSpec,
    ds: cfg.ds,
    tau0: cfg.tau0,
    model: layout.unflatten(finalParams),
  };
}

function layoutCounts(mirrors: readonly Mirror[]): LayoutCounts {
  const n = noLayouts();
  for (const m of mirrors) for (const k of Object.keys(n) as UpdateLayout[]) n[k] += m.layouts[k];
  return n;
}

/** The plans this process runs: all of them, or those of `only` (ASP modes, whose replicas are local). */
function localPlans(plans: RegionPlan[], mode: Mode, only: readonly string[] | undefined): RegionPlan[] {
  if (!only) return plans;
  if (!mode.startsWith('asp')) {
    throw new ConfigError(`options.regions: one process per region needs an ASP mode, not ${mode}`, [
      'regions',
    ]);
  }
  const unknown = only.filter((r) => !plans.some((p) => p.region === r));
  if (only.length === 0 || unknown.length > 0) {
    throw new ConfigError(`options.regions: unknown or no regions [${unknown}]`, ['regions']);
  }
  return plans.filter((p) => only.includes(p.region));
}
