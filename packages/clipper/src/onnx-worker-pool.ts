import { type Clock, systemClock } from '@geoml/core';
import { OnnxWorker, type OnnxWorkerOptions } from './onnx-worker.js';

/**
 * Spare ONNX worker threads, per process: idle threads that have booted and imported onnxruntime, so a
 * new model version only has to create its session. Starting a thread and importing onnxruntime costs
 * tens of ms of CPU, which a hot swap would otherwise spend while the old version serves on the same
 * cores. A predictor disposed cleanly gives its thread back (session released) instead of ending it;
 * `prestart` fills the pool ahead of need. Spares run in the background (nice 19 where the priority can
 * be raised back) and never keep the process alive.
 */

type Limits = OnnxWorkerOptions['resourceLimits'];

/** Threads are interchangeable only with the same heap limits and priority mode. */
export interface WorkerKind {
  readonly resourceLimits?: Limits;
  readonly background: boolean;
}

/** Spares kept per resource-limit setting; more returned threads end. */
const MAX_SPARES = 1;

/**
 * Sessions one thread creates before it ends instead of waiting as a spare: each session created and
 * released in the same thread leaves ~1 MB behind (native, not the JS heap; measured over 60 reloads of
 * mlp-s), which only the thread's exit gives back. 8 bounds that to a few MB per thread and still spares
 * 7 thread starts in 8.
 */
export const MAX_LOADS_PER_THREAD = 8;

const spares = new Map<string, OnnxWorker[]>();
/**
 * Used-up threads (sessions released) that a hot-loader ends at an idle moment (`tidyWorkers`) instead
 * of inside the swap that released them: ending a thread took 6-13 ms of wall time and a core while the
 * new version served. Only while a hot-loader tidies (`deferRetirement`); otherwise they end at once.
 */
const retiring = new Set<OnnxWorker>();
let tidiers = 0;

const keyOf = (kind: WorkerKind): string => JSON.stringify([kind.resourceLimits ?? {}, kind.background]);

function list(kind: WorkerKind): OnnxWorker[] {
  const key = keyOf(kind);
  const found = spares.get(key);
  if (found) return found;
  const l: OnnxWorker[] = [];
  spares.set(key, l);
  return l;
}

function startSpare(kind: WorkerKind): OnnxWorker {
  const l = list(kind);
  return new OnnxWorker({
    clock: systemClock,
    background: kind.background,
    ...(kind.resourceLimits ? { resourceLimits: kind.resourceLimits } : {}),
    onDeath: (dead) => drop(l, dead),
  });
}

function drop(l: OnnxWorker[], worker: OnnxWorker): void {
  const at = l.indexOf(worker);
  if (at >= 0) l.splice(at, 1);
}

/** A worker for a new session: a spare of that kind if there is one (adopted by the caller), else a new thread. */
export function takeWorker(
  kind: WorkerKind,
  owner: { clock: Clock; onDeath: (worker: OnnxWorker) => void },
): OnnxWorker {
  const l = list(kind);
  for (let spare = l.shift(); spare; spare = l.shift()) {
    if (!spare.usable) continue;
    spare.adopt(owner);
    return spare;
  }
  return new OnnxWorker({
    ...owner,
    background: kind.background,
    ...(kind.resourceLimits ? { resourceLimits: kind.resourceLimits } : {}),
  });
}

/**
 * Takes back a worker whose owner is done with it: it waits as a spare once its session is released (the
 * promise resolves then). Returns undefined, taking nothing, when the pool of that kind is full or the
 * worker is busy or gone (the owner ends it then).
 */
export function returnWorker(worker: OnnxWorker, kind: WorkerKind): Promise<void> | undefined {
  const l = list(kind);
  if (!worker.usable || !worker.idle) return undefined;
  if (worker.loadsDone >= MAX_LOADS_PER_THREAD) {
    if (tidiers === 0) return undefined;
    worker.adopt({ clock: systemClock, onDeath: () => retiring.delete(worker) });
    retiring.add(worker);
    return worker.release().catch(() => void retiring.delete(worker));
  }
  if (l.filter((w) => w.usable).length >= MAX_SPARES) return undefined;
  worker.adopt({ clock: systemClock, onDeath: (dead) => drop(l, dead) });
  l.push(worker);
  // Released in order before any load a new owner sends; a thread that dies meanwhile drops out.
  return worker.release().catch(() => drop(l, worker));
}

/**
 * While the returned function is not called, used-up threads wait for `tidyWorkers` to end them
 * instead of ending when their predictor is disposed. For a hot-loader, which tidies after each swap.
 */
export function deferRetirement(): () => void {
  tidiers++;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--tidiers === 0) for (const w of [...retiring]) end(w);
  };
}

function end(worker: OnnxWorker): void {
  retiring.delete(worker);
  worker.retire();
}

/**
 * Ends the used-up threads waiting and then starts a spare of `kind` if none waits, each step once
 * `idle` resolves (e.g. when no query is being served), one at a time: each costs the main thread
 * 0.5-5 ms (`new Worker`, joining an ended thread) and a core while the thread boots or ends.
 */
export async function tidyWorkers(kind: WorkerKind, idle: () => Promise<void>): Promise<void> {
  for (const worker of [...retiring]) {
    await idle();
    if (!retiring.has(worker)) continue;
    end(worker);
    await worker.exited;
  }
  if (list(kind).some((w) => w.usable)) return;
  await idle();
  prestartWorkers(kind);
}

/** Starts spare threads until `count` (at most the pool size) of that kind wait for models. */
export function prestartWorkers(kind: WorkerKind, count = 1): void {
  const l = list(kind);
  while (l.length < Math.min(count, MAX_SPARES)) l.push(startSpare(kind));
}

/** Spare threads waiting, over all resource-limit settings. */
export function spareWorkers(): number {
  let n = 0;
  for (const l of spares.values()) n += l.filter((w) => w.usable).length;
  return n;
}

/** Ends every spare thread (e.g. before a process exits or in tests); resolves when they have exited. */
export async function closeSpareWorkers(): Promise<void> {
  const all = [...spares.values()].flat().concat([...retiring]);
  spares.clear();
  retiring.clear();
  for (const w of all) w.retire();
  await Promise.all(all.map((w) => w.exited));
}
