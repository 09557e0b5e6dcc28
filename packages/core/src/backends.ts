import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as TfModule from '@tensorflow/tfjs';
import type * as OrtModule from 'onnxruntime-node';
import { BackendError } from './errors.js';

/** The `@tensorflow/tfjs` namespace (tfjs-node and tfjs-node-gpu re-export the same API). */
export type Tf = typeof TfModule;
/** The `onnxruntime-node` namespace. */
export type Ort = typeof OrtModule;

/** tfjs backends in the order `loadTf` tries them; the first two are tfjs-node(-gpu)'s native `tensorflow`. */
export const TF_BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type TfBackendName = (typeof TF_BACKENDS)[number];

/** What `loadTf` chose, and why. */
export interface LoadedTf {
  readonly tf: Tf;
  readonly backend: TfBackendName;
  /** Why this backend: forced by the environment, or which better ones failed and how. */
  readonly reason: string;
}

export interface LoadTfOptions {
  /** Force one backend (else `GEOML_TF_BACKEND`, else the first that loads). */
  readonly backend?: TfBackendName;
  /** No notice on stderr (also when `GEOML_QUIET` is set). */
  readonly quiet?: boolean;
}

const require = createRequire(import.meta.url);
const NATIVE_PACKAGE = { 'tensorflow-gpu': '@tensorflow/tfjs-node-gpu', tensorflow: '@tensorflow/tfjs-node' };

/** CommonJS packages imported from ESM may expose their API on `default` only. */
function namespaceOf(mod: unknown): Tf {
  const m = mod as Tf & { default?: Tf };
  return typeof m.setBackend === 'function' ? m : (m.default as Tf);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 160);
}

/** Imports a module by a computed name, so that optional peers that are absent do not break type-checking. */
function importOptional(name: string): Promise<unknown> {
  return import(/* @vite-ignore */ name);
}

let wasmPathsSet = false;

async function loadWasm(): Promise<Tf> {
  const tf = namespaceOf(await import('@tensorflow/tfjs'));
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (!wasmPathsSet) {
    // Bundlers and ESM loaders can lose the emscripten loader's own location; point it at the shipped
    // .wasm files explicitly (a file-system prefix, read with fs in Node).
    const dist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
    wasm.setWasmPaths(`${dist}/`);
    wasmPathsSet = true;
  }
  return tf;
}

async function importNative(name: 'tensorflow-gpu' | 'tensorflow'): Promise<Tf> {
  const pkg = NATIVE_PACKAGE[name];
  try {
    require.resolve(pkg);
  } catch {
    // The usual case gets a short reason; an installed package that fails (e.g. its native binding is
    // missing) keeps its own message.
    throw new Error(`${pkg} not installed`);
  }
  return namespaceOf(await importOptional(pkg));
}

async function tryBackend(name: TfBackendName): Promise<Tf> {
  const tf =
    name === 'wasm'
      ? await loadWasm()
      : name === 'cpu'
        ? namespaceOf(await import('@tensorflow/tfjs'))
        : await importNative(name);
  const engineName = name === 'tensorflow-gpu' ? 'tensorflow' : name;
  if (!(await tf.setBackend(engineName))) throw new Error(`tf.setBackend('${engineName}') returned false`);
  await tf.ready();
  if (tf.getBackend() !== engineName) throw new Error(`tfjs reports backend ${tf.getBackend()}`);
  return tf;
}

function forcedByEnv(): TfBackendName | undefined {
  const value = process.env.GEOML_TF_BACKEND?.trim();
  if (!value) return undefined;
  if (!(TF_BACKENDS as readonly string[]).includes(value)) {
    throw new BackendError(
      'UNAVAILABLE',
      `GEOML_TF_BACKEND=${value} is not one of ${TF_BACKENDS.join(', ')}`,
    );
  }
  return value as TfBackendName;
}

async function choose(forced: TfBackendName | undefined, source: string): Promise<LoadedTf> {
  if (forced) {
    try {
      return { tf: await tryBackend(forced), backend: forced, reason: `forced by ${source}` };
    } catch (cause) {
      throw new BackendError(
        'UNAVAILABLE',
        `tfjs backend ${forced} (forced by ${source}) failed: ${firstLine(cause)}`,
        {
          cause,
        },
      );
    }
  }
  const skipped: string[] = [];
  for (const name of TF_BACKENDS) {
    try {
      const tf = await tryBackend(name);
      const reason = skipped.length === 0 ? 'best available' : `skipped ${skipped.join('; ')}`;
      return { tf, backend: name, reason };
    } catch (err) {
      skipped.push(`${name}: ${firstLine(err)}`);
    }
  }
  throw new BackendError('UNAVAILABLE', `no tfjs backend could be initialised (${skipped.join('; ')})`);
}

const loaded = new Map<string, Promise<LoadedTf>>();

/**
 * Loads TensorFlow.js on the best backend this machine has: `@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node` (both optional peers), then `@tensorflow/tfjs` with the wasm backend, then cpu.
 * `GEOML_TF_BACKEND=tensorflow-gpu|tensorflow|wasm|cpu` (or `opts.backend`) forces one, and a forced
 * backend that cannot load is a `BackendError` `UNAVAILABLE`, never a silent fallback. Memoised per choice;
 * tfjs has one global active backend, so each call re-activates the one it returns. Prints one line on
 * stderr naming the choice unless `GEOML_QUIET` is set or `opts.quiet`.
 */
export async function loadTf(opts: LoadTfOptions = {}): Promise<LoadedTf> {
  const forced = opts.backend ?? forcedByEnv();
  const key = forced ?? 'auto';
  let pending = loaded.get(key);
  if (pending === undefined) {
    pending = choose(forced, opts.backend ? 'loadTf({ backend })' : 'GEOML_TF_BACKEND');
    loaded.set(key, pending);
    // A failed load may succeed later (e.g. after an install); do not memoise failures.
    pending.catch(() => loaded.delete(key));
    const result = await pending;
    if (!opts.quiet && !process.env.GEOML_QUIET) {
      process.stderr.write(`geoml: tfjs backend ${result.backend} (${result.reason})\n`);
    }
  }
  const result = await pending;
  const engineName = result.backend === 'tensorflow-gpu' ? 'tensorflow' : result.backend;
  if (result.tf.getBackend() !== engineName) await result.tf.setBackend(engineName);
  return result;
}

let ort: Promise<Ort> | undefined;

/** Imports onnxruntime-node on first use (its native binding is large); `BackendError` `UNAVAILABLE` if it cannot load. */
export function loadOrt(): Promise<Ort> {
  ort ??= import('onnxruntime-node').then(
    (mod) => {
      const m = mod as Ort & { default?: Ort };
      return typeof m.Tensor === 'function' ? m : (m.default as Ort);
    },
    (cause: unknown) => {
      ort = undefined;
      throw new BackendError('UNAVAILABLE', `onnxruntime-node could not be loaded: ${firstLine(cause)}`, {
        cause,
      });
    },
  );
  return ort;
}
