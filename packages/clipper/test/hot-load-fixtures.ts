/** Shared by the hot-loader tests: generated MLP versions, a registry + Clipper + HotLoader, a closed loop. */
import { type Tensor, tensor } from '@geoml/core';
import { InProcessTransport, ModelRegistry, type Transport } from '@geoml/transport';
import { buildOnnxModel, referenceMlp, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { Clipper } from '../src/clipper.js';
import type { HotLoadEvent } from '../src/hot-load-events.js';
import { HotLoader } from '../src/hot-loader.js';

export const V1 = buildOnnxModel('mlp-s', 1);
export const V2 = buildOnnxModel('mlp-s', 2);
export const V3 = buildOnnxModel('mlp-s', 3);
export const MODEL = 'digits';

export const cleanups: (() => Promise<unknown>)[] = [];
/** Closes what the test opened, newest first (call from afterEach). */
export async function runCleanups(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c();
}

export interface Setup {
  transport: Transport;
  registry: ModelRegistry;
  clipper: Clipper;
  loader: HotLoader;
  events: HotLoadEvent[];
}

export function setup(transport: Transport = new InProcessTransport(), drainPollMs?: number): Setup {
  const registry = new ModelRegistry(transport);
  const clipper = new Clipper();
  const events: HotLoadEvent[] = [];
  const loader = new HotLoader(clipper, registry, {
    onEvent: (e) => events.push(e),
    ...(drainPollMs ? { drainPollMs } : {}),
  });
  cleanups.push(
    () => transport.close(),
    () => clipper.close(),
    () => loader.stop(),
  );
  return { transport, registry, clipper, loader, events };
}

export function publishOnnx(registry: ModelRegistry, bytes: Uint8Array) {
  return registry.publish({
    name: MODEL,
    format: 'onnx',
    files: { 'model.onnx': bytes },
    metadata: {
      inputs: [{ name: 'input', dtype: 'float32', shape: [null, 784] }],
      outputs: [{ name: 'output', dtype: 'float32', shape: [null, 10] }],
    },
  });
}

export function query(seed: number): Record<string, Tensor> {
  return { input: tensor('float32', [784], sampleInput(V1, seed)) };
}

/** Which generated model answered: compares the output with each MLP's plain-JS reference. */
export function answeredBy(output: unknown, seed: number): 1 | 2 | 3 | undefined {
  const y = (output as Record<string, Tensor>).output!;
  const x = sampleInput(V1, seed);
  for (const [v, m] of [
    [1, V1],
    [2, V2],
    [3, V3],
  ] as const) {
    const ref = referenceMlp(m.layers, x);
    if (ref.every((r, j) => Math.abs(r - (y.data[j] as number)) < 1e-3)) return v;
  }
  return undefined;
}

export function registerApp(clipper: Clipper): void {
  // A generous SLO: these tests check that no query is lost, not speed (the machine is shared).
  clipper.registerApplication({
    name: 'app',
    inputType: 'tensor',
    latencySloMs: 20_000,
    defaultOutput: null,
    linkedModels: [MODEL],
  });
}

export function nextEvent(
  loader: HotLoader,
  match: (e: HotLoadEvent) => boolean,
  ms = 30_000,
): Promise<HotLoadEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching hot-load event in ${ms} ms`));
    }, ms);
    const off = loader.on((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** A bounded closed loop of `clients` callers querying until `done()` or `maxMs`; counts defaults. */
export async function closedLoop(clipper: Clipper, clients: number, done: () => boolean, maxMs = 30_000) {
  const until = Date.now() + maxMs;
  const stats = { total: 0, defaults: 0, byVersion: new Map<string, number>(), wrong: 0 };
  const client = async (c: number) => {
    for (let i = 0; i < 100_000 && !done() && Date.now() < until; i++) {
      const seed = c * 100_000 + i;
      const r = await clipper.predict('app', query(seed));
      stats.total++;
      if (r.default) stats.defaults++;
      else {
        stats.byVersion.set(r.version!, (stats.byVersion.get(r.version!) ?? 0) + 1);
        if (answeredBy(r.output, seed) !== Number(r.version)) stats.wrong++;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  return stats;
}
