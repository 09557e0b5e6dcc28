import type { Clipper } from './clipper.js';
import { tidyWorkers, type WorkerKind } from './onnx-worker-pool.js';

/** How long thread upkeep waits for an idle moment before it goes ahead anyway (ms). */
export const IDLE_WAIT_MS = 1_000;

/**
 * After a swap, ends the ONNX threads that are used up and boots the spare the next version will take,
 * each at a moment when `model` serves nothing (no query queued, no batch running) and no version waits
 * to be loaded, polled every `pollMs`, at most `IDLE_WAIT_MS` after it starts waiting. Not inside the
 * swap: starting a thread (`new Worker`) and joining an ended one each hold the main thread 0.5-5 ms,
 * and a query that arrives meanwhile waits; at an idle moment the fewest do.
 */
export function tidyAtIdleMoments(
  clipper: Clipper,
  model: string,
  kind: WorkerKind,
  options: { pollMs: number; waiting: () => boolean },
): Promise<void> {
  const clock = clipper.clock;
  const quiet = () => {
    if (options.waiting()) return false;
    const info = clipper.getModelVersion(model);
    return !info || (info.queueLength === 0 && info.replicas.every((r) => !r.busy));
  };
  const idle = async () => {
    const until = clock.now() + IDLE_WAIT_MS;
    while (!quiet() && clock.now() < until) await clock.sleep(options.pollMs);
  };
  return tidyWorkers(kind, idle);
}
