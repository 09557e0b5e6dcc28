import type { Clock } from '@geoml/core';
import type { Transport } from '@geoml/transport';
import type { LinkMeter } from './link-meter.js';
import type { MirrorLink } from './mirror-link.js';
import { barrierMessage, type ClockMeta, type DataMeta, onLink } from './mirror-messages.js';
import type { MirrorOptions } from './mirror-options.js';
import type { SignificantUpdates } from './significance-filter.js';
import { encodeShipped, type LayoutCounts, noLayouts } from './update-coding.js';
import { encodeMessage } from './wire.js';

/**
 * The sending side of a mirror: significant updates go out as data messages numbered per link (their
 * indexes first, on the control lane, where a link is backed up and the selective barrier is on) and
 * are kept on the link for resending; clocks go out acknowledging what arrived; every message is
 * metered on its link.
 */
export class MirrorSender {
  /** Selective-barrier announcements sent (index lists on the control lane, forwarded ones included). */
  announced = 0;
  /** Messages shipped in each wire layout. */
  readonly layouts: LayoutCounts = noLayouts();
  private seq = 0;

  constructor(
    private readonly transport: Transport,
    private readonly clock: Clock,
    private readonly links: ReadonlyMap<string, MirrorLink>,
    private readonly options: Pick<MirrorOptions, 'region' | 'subjectOf' | 'barrier'>,
    /** The shard's key count. */
    private readonly size: number,
    /** (Re)arms the resend timer after a send that leaves something to acknowledge. */
    private readonly arm: () => void,
    private readonly meter?: LinkMeter,
  ) {}

  /** Sends this region's significant updates to `to`, indexes first on links that are backed up. */
  ship(to: ReadonlySet<string>, out: SignificantUpdates, t: number): void {
    const seq = this.seq++;
    const meta: DataMeta = {
      from: this.options.region,
      seq,
      t,
      ...(out.int8 ? { scale: out.int8.scale } : {}),
    };
    this.layouts[out.layout]++;
    const data = encodeMessage(meta, encodeShipped(out, this.size));
    let announce: Uint8Array | undefined;
    for (const n of to) {
      this.sendData(n, data, meta, () => {
        announce ??= barrierMessage(
          meta.from,
          seq,
          out.layout === 'dense' ? undefined : out.indices,
          this.size,
        );
        return announce;
      });
    }
  }

  /** Sends data message `data` (header `meta`) to `to`, numbered for that link. */
  sendData(to: string, data: Uint8Array, meta: DataMeta, announce: () => Uint8Array): void {
    const link = this.links.get(to) as MirrorLink;
    if (this.options.barrier && link.backlog.congested) this.announce(to, announce());
    const bytes = onLink(data, meta, link.sent);
    this.send(to, 'data', bytes, 'data');
    link.sending(bytes, this.clock.now());
    this.arm();
  }

  announce(to: string, message: Uint8Array): void {
    this.announced++;
    this.send(to, 'barrier', message, 'control');
  }

  /** Sends clock `t` (of `group`'s stream when given) to `to`, acknowledging what arrived from it. */
  sendClock(to: string, t: number, group?: string): void {
    const link = this.links.get(to) as MirrorLink;
    const held = this.clock.now() - link.lastArrivalAt;
    const meta: ClockMeta = {
      from: this.options.region,
      t,
      ack: link.received - 1,
      // To 0.1 ms: enough for a round-trip sample, few header bytes.
      ...(Number.isNaN(held) ? {} : { h: Math.round(held * 10) / 10 }),
      sent: link.sent,
      ...(group ? { g: group } : {}),
    };
    link.lastClocks.set(group ?? '', meta);
    if (group === undefined || group === this.options.region) {
      link.myClock = Math.max(link.myClock, t);
      this.arm();
    }
    this.send(to, 'clock', encodeMessage(meta), 'control');
  }

  /**
   * Sends `to` the latest clock of each stream on its link again (`r`: counted only if the first copy
   * was lost), acknowledging what arrived by now; `nack` (on the first) asks `to` for the data missing
   * after that. Nothing before this mirror's first clock: the peer's resend timer is the way back then.
   */
  clocksAgain(to: string, nack = false): void {
    const link = this.links.get(to) as MirrorLink;
    let ask = nack;
    for (const c of link.lastClocks.values()) {
      const meta: ClockMeta = { ...c, ack: link.received - 1, r: 1, ...(ask ? { nack: 1 as const } : {}) };
      ask = false;
      this.send(to, 'clock', encodeMessage(meta), 'control');
    }
  }

  send(to: string, kind: string, data: Uint8Array, lane: 'data' | 'control'): void {
    this.transport.publish(`${this.options.subjectOf(to)}.${kind}`, data, { lane });
    this.meter?.count(this.options.region, to, data.length, lane);
  }
}
