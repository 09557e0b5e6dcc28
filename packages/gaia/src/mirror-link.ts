import { LinkBacklog } from './link-backlog.js';

/**
 * One neighbour of a mirror on the overlay (a peer it mirrors directly, its hub, or another hub): the
 * data messages sent to and received from it, for acknowledgements (the backlog behind the selective
 * barrier), for the bandwidth controller, and for clocks that must not overtake the data they cover.
 */
export class MirrorLink {
  readonly backlog: LinkBacklog;
  /** Data messages sent on this link, and received from it. */
  sent = 0;
  received = 0;
  /** Data bytes sent since the mirror's last tick. */
  sinceTick = 0;
  /** When the last data message from this neighbour arrived (ms): acknowledgements say how long ago. */
  lastArrivalAt = Number.NaN;
  private readonly waiting: { count: number; run: () => void }[] = [];

  constructor(barrierBytes: number) {
    this.backlog = new LinkBacklog(barrierBytes);
  }

  /** Counts a data message of `bytes` sent at `at` (ms); returns its number on this link. */
  sending(bytes: number, at: number): number {
    const n = this.sent++;
    this.backlog.sent(n, bytes, at);
    this.sinceTick += bytes;
    return n;
  }

  /** Counts a data message received at `at` (ms), and runs what waited for it. */
  arrived(at: number): void {
    this.received++;
    this.lastArrivalAt = at;
    while (this.waiting.length > 0 && (this.waiting[0]?.count as number) <= this.received) {
      this.waiting.shift()?.run();
    }
  }

  /** Runs `run` once `count` data messages have arrived from this neighbour (at once if they have). */
  afterReceived(count: number, run: () => void): void {
    if (this.received >= count) run();
    else this.waiting.push({ count, run });
  }
}
