import type { Clock } from '@geoml/core';
import type { Lane } from './transport.js';

/**
 * What the in-process hub needs from a network between regions: the time a message takes. The hub calls
 * `transmit` for every message it delivers to another region (and within a region when the network models
 * that region's LAN), and hands the message over when the promise resolves.
 */
export interface Network {
  /**
   * Sends `bytes` from region `from` to region `to` on `lane`; resolves when they arrive. Messages on one
   * directed link and lane arrive in the order they were sent. Throws at once (synchronously) when the
   * network has no link between the two regions.
   */
  transmit(from: string, to: string, bytes: number, lane: Lane): Promise<void>;
  /**
   * Throws, like `transmit`, when there is no link from `from` to `to`; sends nothing. The hub checks every
   * link a message needs before sending it anywhere, so a bad topology never delivers half a message.
   */
  check?(from: string, to: string): void;
  /** The regions this network connects; when present, the hub refuses connections from other regions. */
  readonly regions?: readonly string[];
  /** The clock the network times with; the hub adopts it when given none of its own. */
  readonly clock?: Clock;
}
