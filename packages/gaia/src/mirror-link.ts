import { LinkBacklog } from './link-backlog.js';
import type { ClockMeta } from './mirror-messages.js';
import { ResendQueue, type ResendTiming } from './resend-queue.js';

/**
 * One neighbour of a mirror on the overlay (a peer it mirrors directly, its hub, or another hub): the
 * data messages sent to and received from it, for acknowledgements (the backlog behind the selective
 * barrier, and the resend queue), for the bandwidth controller, and for clocks that must not overtake
 * the data they cover. Data messages are numbered per link; they are applied in that order, once each,
 * whatever order (or how many times) a lossy transport delivers them.
 */
export class MirrorLink {
  readonly backlog: LinkBacklog;
  readonly resend: ResendQueue;
  /** Data messages sent on this link, and received (in order, without gaps) from it. */
  sent = 0;
  received = 0;
  /** Data bytes sent since the mirror's last tick. */
  sinceTick = 0;
  /** When the last data message from this neighbour arrived (ms): acknowledgements say how long ago. */
  lastArrivalAt = Number.NaN;
  /** When anything last arrived from this neighbour (ms): a silent peer is given up on. */
  lastHeardAt: number;
  /** The latest own clock this mirror sent on the link, and the latest the neighbour reported. */
  myClock = 0;
  peerClock = 0;
  /** Data messages that arrived twice and were dropped. */
  duplicates = 0;
  /** The latest clock sent on this link per clock stream ('' its own, else the group's hub). */
  readonly lastClocks = new Map<string, ClockMeta>();
  private readonly heardClocks = new Map<string, number>();
  private readonly waiting: { count: number; run: () => void }[] = [];
  /** Data messages that arrived after a gap, by number, until the gap is filled. */
  private readonly held = new Map<number, () => void>();
  /** The gap last reported to the peer (at `received`), and when. */
  private reportedGap = -1;
  private reportedAt = Number.NEGATIVE_INFINITY;

  /** `timing`: of loss recovery; absent where the peer sends no acknowledgements (no mirror clock). */
  constructor(barrierBytes: number, now = 0, timing?: ResendTiming) {
    this.backlog = new LinkBacklog(barrierBytes);
    this.resend = new ResendQueue(timing ?? { minMs: 0, initialMs: 0 }, timing !== undefined);
    this.lastHeardAt = now;
  }

  /** Counts a data message `data` sent at `at` (ms); returns its number on this link. */
  sending(data: Uint8Array, at: number): number {
    const n = this.sent++;
    this.backlog.sent(n, data.length, at);
    this.resend.add(n, data, at);
    this.sinceTick += data.length;
    return n;
  }

  /**
   * Data message `n` arrived at `at`: `apply` runs now if it is the next one, later if it came after a
   * gap, never if it was applied before (a resend of a message whose first copy arrived). Returns false
   * for a duplicate.
   */
  accept(n: number, at: number, apply: () => void): boolean {
    this.lastHeardAt = at;
    if (n < this.received || this.held.has(n)) {
      this.duplicates++;
      return false;
    }
    if (n > this.received) {
      this.held.set(n, apply);
      return true;
    }
    // A message refused on applying still counts as arrived; the first refusal is rethrown after the
    // held ones behind it are applied.
    let failure: { error: unknown } | undefined;
    let next: (() => void) | undefined = apply;
    while (next) {
      try {
        next();
      } catch (error) {
        failure ??= { error };
      }
      this.arrived(at);
      next = this.held.get(this.received);
      this.held.delete(this.received);
    }
    if (failure) throw failure.error;
    return true;
  }

  /**
   * Whether to ask the peer now for the messages missing before those held: once per gap (one link
   * delivers in order, so a later message past a gap proves a loss, not a delay), again after `retryMs`
   * if it is still open.
   */
  gapToReport(at: number, retryMs: number): boolean {
    if (this.held.size === 0) return false;
    if (this.reportedGap === this.received && at - this.reportedAt < retryMs) return false;
    this.reportedGap = this.received;
    this.reportedAt = at;
    return true;
  }

  /** A clock of stream `g` ('' the peer's own) at `t` arrived; false when one as new was seen before. */
  freshClock(g: string, t: number): boolean {
    const seen = this.heardClocks.get(g);
    if (seen !== undefined && t <= seen) return false;
    this.heardClocks.set(g, t);
    return true;
  }

  /** Runs `run` once `count` data messages have arrived from this neighbour (at once if they have). */
  afterReceived(count: number, run: () => void): void {
    if (this.received >= count) run();
    else this.waiting.push({ count, run });
  }

  /** Counts a data message received at `at` (ms), and runs what waited for it. */
  private arrived(at: number): void {
    this.received++;
    this.lastArrivalAt = at;
    while (this.waiting.length > 0 && (this.waiting[0]?.count as number) <= this.received) {
      this.waiting.shift()?.run();
    }
  }
}
