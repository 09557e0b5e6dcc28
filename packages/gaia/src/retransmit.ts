import type { Clock } from '@geoml/core';
import { GaiaError } from './errors.js';
import type { MirrorLink } from './mirror-link.js';
import type { Unacked } from './resend-queue.js';

/** How a mirror's retransmissions reach the wire, and whom a failure is reported to. */
export interface RetransmitContext {
  readonly region: string;
  /** Mirror subject prefix of a region (names the link in errors). */
  readonly subjectOf: (region: string) => string;
  readonly giveUpMs: number;
  /** Mirror-clock bound DS, and the clock a region ends at (a finished peer reads nothing more). */
  readonly ds: number;
  readonly lastClock?: number | undefined;
  /** Puts a data message on the wire again (already numbered for its link). */
  sendData(to: string, data: Uint8Array): void;
  /** Sends the link's latest clocks again, with today's acknowledgement. */
  clocksAgain(to: string): void;
  /** Called once when a neighbour is given up on; the run should end with this error. */
  readonly onFailure?: ((error: GaiaError) => void) | undefined;
}

/**
 * The one timer of a mirror's loss recovery: it sleeps (on the mirror's `Clock`, so virtual time stays
 * deterministic) until the earliest deadline of any link — a resend timeout, or the give-up time of a
 * silent peer — acts, and sleeps again. Armed only while some link has data unacknowledged; a wake
 * that finds nothing due changes nothing, so a loss-free run behaves as without it.
 *
 * A link counts only while its peer may be waiting for what this mirror sent: the peer has not reached
 * the last clock, and this mirror has sent a clock the peer needs (`mine >= peer's - DS`; a peer further
 * ahead waits for this region to progress, which sends it new clocks anyway). At the end of a run, or
 * behind a peer, data legitimately stays unacknowledged, and nothing is resent or given up on.
 */
export class Retransmit {
  private wakeAt = Number.POSITIVE_INFINITY;
  private timer: AbortController | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly links: ReadonlyMap<string, MirrorLink>,
    private readonly ctx: RetransmitContext,
  ) {}

  /** (Re)computes the next deadline after a send or an acknowledgement; cheap when nothing moved. */
  arm(): void {
    if (this.stopped) return;
    const at = this.nextDeadline();
    if (at === undefined || (this.timer && this.wakeAt <= at)) return;
    this.timer?.abort();
    const timer = new AbortController();
    this.timer = timer;
    this.wakeAt = at;
    this.clock.sleep(Math.max(0, at - this.clock.now()), timer.signal).then(
      () => {
        if (this.timer === timer) this.fire();
      },
      () => {},
    );
  }

  /** Data messages sent again, over all links. */
  get resent(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.resend.resent;
    return n;
  }

  /** Data messages that arrived again after being applied, and were dropped. */
  get duplicates(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.duplicates;
    return n;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.abort();
    this.timer = undefined;
  }

  private fire(): void {
    this.timer = undefined;
    this.wakeAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    for (const [to, link] of this.links) {
      if (this.stopped) return;
      if (!this.mayWait(link)) continue;
      const silentFrom = this.silentSince(link);
      if (silentFrom !== undefined && now - silentFrom >= this.ctx.giveUpMs) {
        this.stop();
        this.ctx.onFailure?.(this.lost(to, link, now - silentFrom));
        return;
      }
      this.sendAgain(to, link.resend.due(now, link.backlog.queued > 0));
    }
    this.arm();
  }

  /** The peer on `link` reported a gap after what it acknowledged: send what it lacks at once. */
  requested(to: string, link: MirrorLink): void {
    if (this.stopped) return;
    this.sendAgain(to, link.resend.requested(this.clock.now()));
    this.arm();
  }

  /**
   * The transport reconnected (a NATS server restart): whatever was in flight may be lost, data and
   * clocks alike, so everything unacknowledged and the latest clocks go out again on every link now,
   * instead of a timeout later. A clock with no data behind it is recovered only this way.
   */
  reconnected(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    for (const [to, link] of this.links) {
      if (link.lastClocks.size > 0) this.sendAgain(to, link.resend.requested(now), true);
    }
    this.arm();
  }

  private sendAgain(to: string, messages: readonly Unacked[], clocksAnyway = false): void {
    if (messages.length === 0 && !clocksAnyway) return;
    for (const u of messages) this.ctx.sendData(to, u.data);
    // The clocks covering them may be lost too, and the peer may be waiting for nothing else.
    this.ctx.clocksAgain(to);
  }

  private lost(to: string, link: MirrorLink, silentMs: number): GaiaError {
    return new GaiaError(
      'LINK_LOST',
      `region ${this.ctx.region}: no word from region ${to} on link ${this.ctx.subjectOf(to)} for ` +
        `${(silentMs / 1000).toFixed(1)} s with ${link.resend.size} data messages unacknowledged ` +
        `(${link.resend.resent} sent again); is ${to} running and reachable?`,
    );
  }

  /** Whether the peer on `link` may be blocked on something this mirror sent. */
  private mayWait(link: MirrorLink): boolean {
    const { ds, lastClock } = this.ctx;
    return (lastClock === undefined || link.peerClock < lastClock) && link.myClock >= link.peerClock - ds;
  }

  /** Since when a link with data unacknowledged has heard nothing from its peer (`undefined`: none). */
  private silentSince(link: MirrorLink): number | undefined {
    const oldest = link.resend.oldestSentAt;
    return oldest === undefined ? undefined : Math.max(oldest, link.lastHeardAt);
  }

  private nextDeadline(): number | undefined {
    let at: number | undefined;
    for (const link of this.links.values()) {
      if (!this.mayWait(link)) continue;
      const resend = link.resend.deadline(link.backlog.queued > 0);
      const silent = this.silentSince(link);
      for (const d of [resend, silent === undefined ? undefined : silent + this.ctx.giveUpMs]) {
        if (d !== undefined && (at === undefined || d < at)) at = d;
      }
    }
    return at;
  }
}
