import { loadMnistDigits } from '@geoml/gaia';

export interface Digit {
  readonly pixels: number[];
  readonly label: number;
}

/** The last `n` of the 10 000 MNIST digits, as JSON-ready pixel arrays. */
export function testDigits(n: number): Digit[] {
  const { images, labels, count } = loadMnistDigits();
  return Array.from({ length: n }, (_, k) => {
    const d = count - n + k;
    return { pixels: Array.from(images.subarray(d * 784, (d + 1) * 784)), label: labels[d]! };
  });
}

export interface LoadReport {
  readonly requests: number;
  readonly failed: number;
  readonly defaults: number;
  readonly correct: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Requests answered while each version served (by the swaps seen when they started). */
  readonly byVersion: Record<string, number>;
  /** The first failure, to say why requests failed. */
  readonly firstError: string | undefined;
}

/**
 * An open-loop load generator: sends digits to `/digits/predict` at `ratePerS` until `signal` aborts,
 * whatever the answers' latency, and times each from when it was due (free of coordinated omission).
 * Counts HTTP failures apart from default answers (the SLO was missed), and correct labels.
 */
export async function runLoad(
  url: string,
  digits: readonly Digit[],
  options: { ratePerS: number; signal: AbortSignal; swaps: readonly string[] },
): Promise<LoadReport> {
  const latencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let failed = 0;
  let defaults = 0;
  let correct = 0;
  let firstError: string | undefined;
  const byVersion: Record<string, number> = {};
  const start = performance.now();
  const send = async (digit: Digit, due: number) => {
    const version = options.swaps.at(-1) ?? 'none';
    try {
      const res = await fetch(`${url}/digits/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: digit.pixels }),
      });
      const body = (await res.json()) as { output: number[] | null; default: boolean };
      latencies.push(performance.now() - due);
      byVersion[version] = (byVersion[version] ?? 0) + 1;
      if (!res.ok) failed++;
      else if (body.default) defaults++;
      else if (argmax(body.output!) === digit.label) correct++;
    } catch (err) {
      failed++;
      firstError ??= String((err as Error).cause ?? err);
    }
  };
  for (let i = 0; !options.signal.aborted; i++) {
    const due = start + (i * 1000) / options.ratePerS;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const p = send(digits[i % digits.length]!, due).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return {
    requests: latencies.length + failed,
    failed,
    defaults,
    correct,
    seconds: (performance.now() - start) / 1000,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    byVersion,
    firstError,
  };
}

function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}
