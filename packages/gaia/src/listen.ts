import type { Msg, Subscription, Transport } from '@geoml/transport';

/**
 * Subscribes to `subject` and hands each message to `handle` in arrival order; a message `handle`
 * throws on goes to `onError` (counted, never fatal: one bad message must not stop a server).
 */
export function listen(
  transport: Transport,
  subject: string,
  handle: (m: Msg) => void,
  onError: (e: unknown) => void,
): Subscription {
  const sub = transport.subscribe(subject);
  void (async () => {
    for await (const m of sub) {
      try {
        handle(m);
      } catch (e) {
        onError(e);
      }
    }
  })();
  return sub;
}
