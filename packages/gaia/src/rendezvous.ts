import type { Clock } from '@geoml/core';
import type { Transport } from '@geoml/transport';
import { decodeMessage, encodeMessage } from './wire.js';

interface Hello {
  region: string;
  heard: string[];
}

/**
 * Waits until every region of a multi-process run is listening, so that no region's first mirror
 * updates or clocks are lost to a peer that has not subscribed yet (NATS keeps nothing for absent
 * subscribers). Each region repeats a hello naming the regions it has heard, until every peer says it
 * has heard all of them, then says so once more for the peers still waiting.
 */
export async function rendezvous(
  transport: Transport,
  clock: Clock,
  subject: string,
  region: string,
  regions: readonly string[],
  options: { intervalMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const heard = new Set<string>([region]);
  const complete = new Set<string>();
  const sub = transport.subscribe(subject);
  const all = () => regions.every((r) => heard.has(r));
  const done = () => all() && regions.every((r) => r === region || complete.has(r));
  const say = () =>
    transport.publish(subject, encodeMessage<Hello>({ region, heard: [...heard] }), { lane: 'control' });
  void (async () => {
    for await (const m of sub) {
      try {
        const { meta } = decodeMessage<Hello>(m.data);
        if (!regions.includes(meta.region)) continue;
        heard.add(meta.region);
        if (regions.every((r) => meta.heard.includes(r))) complete.add(meta.region);
      } catch {
        // not a hello: ignore
      }
    }
  })();
  try {
    while (!done()) {
      say();
      await clock.sleep(options.intervalMs ?? 100, options.signal);
    }
    say();
  } finally {
    sub.unsubscribe();
  }
}
