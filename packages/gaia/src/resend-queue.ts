/**
 * Sending side of loss recovery on one mirror link (ps-lite's `PS_RESEND`, TCP's retransmission timer):
 * every data message stays here until the peer acknowledges it (acknowledgements ride on the peer's
 * clock messages: "every data message up to `ack` arrived"), and is sent again when no acknowledgement
 * has made progress for a timeout. Pure bookkeeping: the caller owns the clock and the sending.
 *
 * The timeout (RTO) must never fire in a loss-free run, or a loss-free run would ship extra bytes. An
 * acknowledgement waits for the peer's next clock, so the ack delay here is the whole time from sending a
 * message to its acknowledgement arriving (queueing, the peer's compute, both latencies), not a network
 * round trip. Hence `RTO = max(floor, 4 × the largest ack delay seen on the link)` (the largest, not a
 * smoothed mean: clock periods vary and a spurious resend costs a whole message), `initialMs` before the
 * first sample, doubled per timeout without progress (TCP's backoff), and measured only on messages sent
 * once (Karn's rule: an ack of a resent message does not say which copy arrived). The deadline runs from
 * the later of the message's last send and the last acknowledgement progress (RFC 6298 §5.3), so a
 * deep queue that drains steadily never times out.
 *
 * A deep queue whose peer is blocked does not drain in acknowledgements: the peer waits (mirror clock)
 * for the very data still queued, so it sends no clocks. While the link counts as queued (`LinkBacklog`)
 * the timeout is therefore at least `congestedMs`; a loss there is found sooner by the receiver, which
 * sees the gap when a later message arrives and asks for the rest at once (`nack`).
 */
export interface ResendTiming {
  /** Least timeout (ms). */
  readonly minMs: number;
  /** Timeout before the first acknowledgement is measured (ms). */
  readonly initialMs: number;
  /** Least timeout while bytes are queued on the link (ms); default `minMs`. */
  readonly congestedMs?: number;
}

export interface Unacked {
  readonly n: number;
  readonly data: Uint8Array;
  readonly firstSentAt: number;
  lastSentAt: number;
  sends: number;
}

/** The factor on the largest ack delay: room for a clock period twice the longest seen, and then some. */
const DELAY_FACTOR = 4;
/** Doublings of the timeout at most (TCP caps its backoff too). */
const MAX_BACKOFF = 6;

export class ResendQueue {
  private readonly pending: Unacked[] = [];
  private maxAckDelay = 0;
  private sampled = false;
  private backoff = 0;
  private progressAt = Number.NEGATIVE_INFINITY;
  /** Messages sent again, over the queue's life. */
  resent = 0;

  /** `keep`: false where no acknowledgements come (Gaia_Async sends no clocks): nothing is kept. */
  constructor(
    private readonly timing: ResendTiming,
    private readonly keep = true,
  ) {}

  /** Data message `n` (numbered per link, in order) was sent at `at`. */
  add(n: number, data: Uint8Array, at: number): void {
    if (this.keep) this.pending.push({ n, data, firstSentAt: at, lastSentAt: at, sends: 1 });
  }

  /** The peer acknowledged every message up to `ack` (-1: none); returns whether that was news. */
  acknowledged(ack: number, at: number): boolean {
    let newest: Unacked | undefined;
    while (this.pending.length > 0 && (this.pending[0] as Unacked).n <= ack) {
      newest = this.pending.shift() as Unacked;
    }
    if (!newest) return false;
    if (newest.sends === 1) {
      this.maxAckDelay = Math.max(this.maxAckDelay, at - newest.firstSentAt);
      this.sampled = true;
    }
    this.backoff = 0;
    this.progressAt = at;
    return true;
  }

  /** Messages sent and not acknowledged. */
  get size(): number {
    return this.pending.length;
  }

  /** When the oldest unacknowledged message was first sent (`undefined`: none pending). */
  get oldestSentAt(): number | undefined {
    return this.pending[0]?.firstSentAt;
  }

  /** The current timeout (ms), backoff included; `congested`: bytes are queued on the link. */
  timeoutMs(congested = false): number {
    const floor = congested ? Math.max(this.timing.minMs, this.timing.congestedMs ?? 0) : this.timing.minMs;
    const base = this.sampled
      ? Math.max(floor, DELAY_FACTOR * this.maxAckDelay)
      : Math.max(floor, this.timing.initialMs);
    return base * 2 ** this.backoff;
  }

  /** When the timeout fires if nothing changes (`undefined`: nothing pending). */
  deadline(congested = false): number | undefined {
    const oldest = this.pending[0];
    if (!oldest) return undefined;
    return Math.max(oldest.lastSentAt, this.progressAt) + this.timeoutMs(congested);
  }

  /**
   * The peer reported a gap after what it acknowledged (`nack`): every pending message, to send again
   * now. No backoff: the peer is alive and said what it lacks.
   */
  requested(now: number): readonly Unacked[] {
    for (const u of this.pending) {
      u.lastSentAt = now;
      u.sends++;
    }
    this.resent += this.pending.length;
    return this.pending;
  }

  /**
   * At `now`: the messages to send again (every pending one, oldest first: a transport that lost one
   * message around a reconnect usually lost its neighbours too; the receiver drops what it already
   * has), or none when the deadline has not passed. Counts them as sent at `now` and backs off.
   */
  due(now: number, congested = false): readonly Unacked[] {
    const deadline = this.deadline(congested);
    if (deadline === undefined || now < deadline) return [];
    this.backoff = Math.min(MAX_BACKOFF, this.backoff + 1);
    return this.requested(now);
  }
}
