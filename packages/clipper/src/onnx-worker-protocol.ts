/*
 * The message protocol between the main thread and an ONNX worker thread. Tensors cross as typed arrays whose buffers
 * are in the transfer list, so they move rather than copy.
 */

import type { DType } from '@geoml/core';

export interface WireTensor {
  readonly dtype: DType;
  readonly dims: number[];
  readonly data: ArrayBufferView;
}

/** What onnxruntime reports about one model input or output; `shape` includes the batch dimension. */
export interface WireMeta {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: (number | string)[];
}

/** How a test makes the worker die while it holds a batch: exit, throw uncaught, or run out of heap. */
export type CrashMode = 'exit' | 'throw' | 'oom';

export type ToWorker =
  /**
   * Create a session from a file path or from bytes: transferred, or a view of shared memory that the
   * worker copies first. With `sha256` the worker hashes its own bytes and refuses them on a mismatch.
   */
  | { type: 'load'; model: Uint8Array | string; sha256?: string; options: Record<string, unknown> }
  | { type: 'run'; id: number; feeds: Record<string, WireTensor>; crash?: CrashMode }
  /** Release the session and stay, idle, with onnxruntime loaded (answered by `released`). */
  | { type: 'release' }
  /** Serving (nice back to its base) or not (nice 19); only for a thread started in the background. */
  | { type: 'priority'; serving: boolean }
  /** Release the session and end the thread; handled between runs, never inside one. */
  | { type: 'exit' };

export type FromWorker =
  /** Booted: its kernel thread id, whether it lowered itself to nice 19, and the nice value it had. */
  | { type: 'ready'; tid: number | undefined; background: boolean; baseNice: number }
  | { type: 'released' }
  | { type: 'loaded'; inputs: WireMeta[]; outputs: WireMeta[] }
  | { type: 'load-failed'; message: string; code?: 'HASH_MISMATCH' }
  | { type: 'result'; id: number; outputs: Record<string, WireTensor> }
  | { type: 'run-failed'; id: number; message: string };

export interface LoadedModel {
  readonly inputs: WireMeta[];
  readonly outputs: WireMeta[];
}
