import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `bench/results`, where every benchmark writes its JSON and SVG files. */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** True when the run was started with `--quick` (fewer repetitions, for a smoke run). */
export const QUICK = process.argv.includes('--quick') || process.env.GEOML_BENCH_QUICK === '1';

/** What a benchmark's result file holds; `summary` is what `pnpm bench` prints. */
export interface BenchResult {
  name: string;
  date: string;
  /** `loadAverage1m` is sampled when the result is written: above `cpus`, other work shared the machine. */
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadAverage1m: number };
  quick: boolean;
  summary: Record<string, unknown>;
  [detail: string]: unknown;
}

/** Writes `bench/results/<name>.json` (machine info, date and quick flag added) and returns its path. */
export function writeResult(
  name: string,
  summary: Record<string, unknown>,
  details: Record<string, unknown> = {},
): string {
  const result: BenchResult = {
    name,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      loadAverage1m: +loadavg()[0]!.toFixed(2),
    },
    quick: QUICK,
    summary,
    ...details,
  };
  // Figures other benchmarks shared into this one survive its re-run.
  const previous = readResult(name);
  if (previous?.shared) {
    for (const key of Object.keys(previous.shared)) {
      if (!(key in summary)) summary[key] = previous.summary[key];
    }
    result.shared = previous.shared;
  }
  return save(name, result);
}

function readResult(name: string): BenchResult | undefined {
  const path = join(RESULTS_DIR, `${name}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as BenchResult) : undefined;
}

function save(name: string, result: BenchResult): string {
  const path = join(RESULTS_DIR, `${name}.json`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}

/**
 * Copies some of benchmark `from`'s figures into benchmark `into`'s summary (when an issue names one file
 * for the figures of several benchmarks); `shared` in that file says where each came from and when.
 */
export function shareSummary(into: string, from: string, figures: Record<string, unknown>): void {
  const target = readResult(into);
  if (!target) return;
  const shared = (target.shared ?? {}) as Record<string, { from: string; date: string }>;
  for (const [key, value] of Object.entries(figures)) {
    target.summary[key] = value;
    shared[key] = { from, date: new Date().toISOString() };
  }
  target.shared = shared;
  save(into, target);
}

/** Writes `bench/results/<name>-<suffix>.svg` and returns its path. */
export function writeSvg(name: string, suffix: string, svg: string): string {
  const path = join(RESULTS_DIR, `${name}-${suffix}.svg`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path, svg);
  return path;
}
