/**
 * Calibrates a workload's compute cost on this machine (measured, never scaled) and sizes its network so
 * that, on the `ss` link, one dense model transfer costs TRANSFER_CLOCKS clocks of compute; records both
 * ratios the issue asks for (transfer / compute and one-way latency / compute).
 */
import { loadavg } from 'node:os';
import { type CostModelSpec, calibrate, type Workload } from '@geoml/gaia';
import { lanMbpsForRegime, topologyProfile } from '@geoml/transport';
import { GOALS, TRANSFER_CLOCKS, WHAT_IF_LATENCY_CLOCKS } from './spec.js';

export interface Calibration {
  readonly workload: string;
  readonly costModel: CostModelSpec;
  /** 1-minute load average while calibrating: above the core count, the step time is inflated by sharing. */
  readonly loadAverage1m: number;
  readonly params: number;
  readonly modelBytes: number;
  readonly metric: string;
  readonly updates: 'sparse' | 'dense';
  /** `lanMbps` passed to every profile; WAN links follow from it (ss = LAN/60). */
  readonly lanMbps: number;
  readonly ssMbps: number;
  readonly ssLatencyMs: number;
  /** One dense model transfer over ss, in clocks of compute (goal 20–50). */
  readonly transferOverCompute: number;
  /** ss one-way latency over one clock's compute (goal ≤ 1/3). */
  readonly latencyOverCompute: number;
  readonly transferMet: boolean;
  readonly latencyMet: boolean;
  /**
   * The what-if set's `wanLatencyScale`: ss one-way latency × this = WHAT_IF_LATENCY_CLOCKS clocks of
   * compute. Not a profile: runs using it are recorded apart from ss.
   */
  readonly whatIfLatencyScale: number;
  readonly whatIfSsLatencyMs: number;
}

export async function calibrateAndSize(name: string, workload: Workload): Promise<Calibration> {
  // CPU time: a loaded shared box must not inflate the step (and so shrink every latency ratio).
  const costModel = await calibrate(workload, { steps: 31, warmup: 5, clock: 'cpu' });
  const params = workload.describe.params;
  const modelBytes = params * 4;
  const lanMbps = lanMbpsForRegime(modelBytes, costModel.stepMs, TRANSFER_CLOCKS);
  const ss = topologyProfile('ss', { lanMbps }).links[0];
  if (!ss) throw new Error('ss profile has no link');
  const transferMs = (modelBytes * 8) / (ss.bandwidthMbps * 1000);
  const transferOverCompute = transferMs / costModel.stepMs;
  const latencyOverCompute = ss.latencyMs / costModel.stepMs;
  const whatIfLatencyScale = Math.min(1, (WHAT_IF_LATENCY_CLOCKS * costModel.stepMs) / ss.latencyMs);
  return {
    workload: name,
    costModel,
    loadAverage1m: +(loadavg()[0] ?? 0).toFixed(2),
    params,
    modelBytes,
    metric: workload.describe.metric,
    updates: workload.describe.updates,
    lanMbps,
    ssMbps: ss.bandwidthMbps,
    ssLatencyMs: ss.latencyMs,
    transferOverCompute,
    latencyOverCompute,
    transferMet:
      transferOverCompute >= GOALS.transferOverCompute[0] &&
      transferOverCompute <= GOALS.transferOverCompute[1],
    latencyMet: latencyOverCompute <= GOALS.latencyOverCompute,
    whatIfLatencyScale,
    whatIfSsLatencyMs: ss.latencyMs * whatIfLatencyScale,
  };
}
