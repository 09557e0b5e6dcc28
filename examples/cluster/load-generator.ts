/**
 * The cluster demo's load generator: sends real MNIST digits to the serving process at a fixed rate
 * (open loop, the demo's own `runLoad`) for a bounded time, then reports throughput, p50/p99 and failed
 * requests.
 *
 *   load-generator.ts --url http://127.0.0.1:port --seconds 5 --rate 100
 */
import { runLoad, testDigits } from '../demo/load.js';
import { arg, log, report, stopSignal } from './role.js';

const url = arg('url');
const seconds = Number(arg('seconds'));
const ratePerS = Number(arg('rate'));
const stop = stopSignal();
const done = new AbortController();
const timer = setTimeout(() => done.abort(), seconds * 1000);
stop.addEventListener('abort', () => done.abort());

const digits = testDigits(500);
log(`sending ${ratePerS} digits/s to ${url}/digits/predict for ${seconds} s`);
const result = await runLoad(url, digits, { ratePerS, signal: done.signal, swaps: [] });
clearTimeout(timer);
const rps = result.requests / result.seconds;
log(
  `${result.requests} requests, ${rps.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, ` +
    `failed ${result.failed}${result.firstError ? ` (first: ${result.firstError})` : ''}, accuracy ${(result.correct / Math.max(1, result.requests)).toFixed(3)}`,
);
report({ ...result, rps });
