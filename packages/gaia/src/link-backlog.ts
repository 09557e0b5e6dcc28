/**
 * Sending side of the selective barrier: an estimate of the bytes queued on the link to one peer, i.e.
 * sent but unable to leave promptly (reference/gaia.md §1.4: updates arriving "at a rate that is higher
 * than the WAN bandwidth can support"). Over `bound` bytes, the next significant updates announce their
 * indexes ahead on the control lane.
 *
 * Bytes merely in flight are not queued: on a long link bandwidth × round trip alone exceeds any useful
 * bound even when the link is idle. The sender does not see the link (over NATS it only sees its own
 * socket), so the estimate is BBR's "in flight beyond the path's capacity", from acknowledgements alone:
 * - acknowledgements ride on the peer's mirror-clock messages, each naming the last data message it
 *   received and how long it held that acknowledgement (QUIC's ack delay), so `ack arrival − send time −
 *   held` is a round-trip sample without the wait for the peer's next clock;
 * - the smallest sample is the link's base round trip; a message whose sample stays within a margin of
 *   it was delivered promptly, and so was everything sent before it (one link delivers in order);
 * - the link's capacity is then the most bytes that were ever unacknowledged when a message was sent
 *   that the link went on to deliver promptly: what it carries in flight ahead of a message without
 *   delaying it (the wait for the peer's report included, since unacknowledged bytes include it too;
 *   a message's own serialization excluded, so on a short link one message ahead already counts);
 * - queued = unacknowledged bytes beyond that capacity.
 * A queue shows as soon as the sender outruns the link, not a round trip later as with delays alone:
 * a fast sender can queue many round trips of data in one. Until the first round trip is measured
 * nothing counts as queued (nothing is known of the link yet), and the messages sent meanwhile are left
 * out, so a long idle link never looks congested while its capacity is being learned.
 */
export class LinkBacklog {
  private readonly unacked: Sent[] = [];
  private outstanding = 0;
  /** Unacknowledged bytes of messages sent before the first round trip was measured (not judged). */
  private unjudged = 0;
  private baseRttMs = Number.POSITIVE_INFINITY;
  private capacity = 0;

  /** `bound`: queued bytes above which the link counts as congested. */
  constructor(readonly bound: number) {}

  /** Data message `seq` of `bytes` was sent at `at` (ms, the mirror's clock). */
  sent(seq: number, bytes: number, at: number): void {
    const judged = this.baseRttMs !== Number.POSITIVE_INFINITY;
    this.unacked.push({ seq, bytes, at, ahead: this.outstanding, judged });
    this.outstanding += bytes;
    if (!judged) this.unjudged += bytes;
  }

  /**
   * A report arrived at `at`: the peer had received every message up to `seq` (-1: none) and sent the
   * report `heldMs` after message `seq` reached it.
   */
  acknowledged(seq: number, at: number, heldMs = 0): void {
    let newest: Sent | undefined;
    while (this.unacked.length > 0 && (this.unacked[0] as Sent).seq <= seq) {
      newest = this.unacked.shift() as Sent;
      this.outstanding -= newest.bytes;
      if (!newest.judged) this.unjudged -= newest.bytes;
    }
    if (!newest) return;
    const rtt = Math.max(0, at - newest.at - heldMs);
    this.baseRttMs = Math.min(this.baseRttMs, rtt);
    if (rtt <= this.baseRttMs + queueMargin(this.baseRttMs)) {
      this.capacity = Math.max(this.capacity, newest.ahead);
    }
  }

  /** Bytes sent and not yet acknowledged (in flight or queued). */
  get unacknowledged(): number {
    return this.outstanding;
  }

  /** The smallest round trip measured so far (ms); `Infinity` before the first sample. */
  get baseRtt(): number {
    return this.baseRttMs;
  }

  /** The most bytes seen in flight ahead of a promptly delivered message (0 before any sample). */
  get inFlightCapacity(): number {
    return this.capacity;
  }

  /** Estimated queued bytes: unacknowledged beyond what the link carries in flight. */
  get queued(): number {
    if (this.baseRttMs === Number.POSITIVE_INFINITY) return 0;
    return Math.max(0, this.outstanding - this.unjudged - this.capacity);
  }

  get congested(): boolean {
    return this.queued > this.bound;
  }
}

interface Sent {
  readonly seq: number;
  readonly bytes: number;
  readonly at: number;
  /** Unacknowledged bytes when this message was sent: what it had to follow. */
  readonly ahead: number;
  /** Sent once a round trip had been measured (counted in the queue estimate). */
  readonly judged: boolean;
}

/**
 * Delay beyond the base round trip still taken as prompt: an eighth of it, so a message's own
 * serialization and wall-clock jitter do not count as a queue, and at least 1 ms for short links.
 */
function queueMargin(baseRttMs: number): number {
  return Math.max(1, baseRttMs / 8);
}
