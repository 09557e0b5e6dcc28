/**
 * `pnpm bench [names...] [--quick] [--option=value...]`: runs each `bench/<name>.ts` (all of them when no
 * name is given) in its own child process through tsx with the `@geoml/source` condition, so one
 * benchmark's JIT state, heap and tfjs/onnxruntime globals never colour another's numbers; then prints a
 * one-screen summary of the `summary` field each wrote to `bench/results/<name>.json`. Options are passed
 * to every benchmark.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULTS_DIR } from './lib/results.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = join(BENCH_DIR, '..');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const requested = args.filter((a) => !a.startsWith('--'));
// Options go to every benchmark run (e.g. gaia's --calibration=<file>, --budget-min=N).
const options = args.filter((a) => a.startsWith('--'));
const available = readdirSync(BENCH_DIR)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && statSync(join(BENCH_DIR, f)).isFile())
  .map((f) => f.slice(0, -3))
  .sort();

const unknown = requested.filter((n) => !available.includes(n));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
const names = requested.length > 0 ? requested : available;

interface Outcome {
  name: string;
  ok: boolean;
  seconds: number;
  summary?: Record<string, unknown>;
  note?: string;
}

const outcomes: Outcome[] = [];
for (const name of names) {
  console.error(`\n=== bench ${name}${quick ? ' (quick)' : ''} ===`);
  const started = Date.now();
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@geoml/source', join(BENCH_DIR, `${name}.ts`), ...options],
    { cwd: ROOT, stdio: 'inherit', env: { ...process.env, GEOML_BENCH_QUICK: quick ? '1' : '0' } },
  );
  const seconds = (Date.now() - started) / 1000;
  const outcome: Outcome = { name, ok: child.status === 0, seconds };
  if (child.error) outcome.note = child.error.message;
  else if (child.status !== 0) outcome.note = `exit ${child.status ?? child.signal}`;
  const file = join(RESULTS_DIR, `${name}.json`);
  if (existsSync(file) && statSync(file).mtimeMs >= started) {
    outcome.summary = (
      JSON.parse(readFileSync(file, 'utf8')) as { summary?: Record<string, unknown> }
    ).summary;
  } else if (outcome.ok) {
    outcome.ok = false;
    outcome.note = `no bench/results/${name}.json written`;
  }
  outcomes.push(outcome);
}

const show = (v: unknown): string =>
  typeof v === 'number' ? String(+v.toPrecision(4)) : typeof v === 'object' ? JSON.stringify(v) : String(v);

console.log('\nbenchmark summary');
for (const o of outcomes) {
  console.log(
    `${o.ok ? 'ok  ' : 'FAIL'} ${o.name} (${o.seconds.toFixed(1)}s)${o.note ? ` — ${o.note}` : ''}`,
  );
  for (const [k, v] of Object.entries(o.summary ?? {})) console.log(`       ${k}: ${show(v)}`);
}
process.exit(outcomes.every((o) => o.ok) ? 0 : 1);
