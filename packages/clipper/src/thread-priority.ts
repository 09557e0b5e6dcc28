import { setPriority } from 'node:os';

/**
 * A worker thread's OS priority, on the main thread's side. Linux keeps a nice value per thread, so a
 * thread booting or loading a model can run at the lowest priority (nice 19) and be raised back to its
 * base value before it serves; the thread lowers itself and reports how it did (the `ready` message).
 */

/** What a thread reported about its priority when it booted. */
export interface ThreadPriority {
  /** Its kernel thread id; undefined off Linux. */
  readonly tid: number | undefined;
  /** Whether it lowered itself to `BACKGROUND_NICE` (only where it can be raised back). */
  readonly background: boolean;
  /** The nice value it had before. */
  readonly baseNice: number;
}

/** The nice value of a thread in the background (the lowest priority). */
const BACKGROUND_NICE = 19;

/** Sets a thread's nice value; false where it is not allowed. */
function renice(tid: number, nice: number): boolean {
  try {
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

/** Raises a thread in the background back to its base nice value; false where it did not happen. */
export function raisePriority(thread: ThreadPriority | undefined): boolean {
  return thread?.background === true && thread.tid !== undefined && renice(thread.tid, thread.baseNice);
}

/** Lowers a thread that booted in the background to `BACKGROUND_NICE` again. */
export function lowerPriority(thread: ThreadPriority | undefined): void {
  if (thread?.background && thread.tid !== undefined) renice(thread.tid, BACKGROUND_NICE);
}
