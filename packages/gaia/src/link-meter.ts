import type { Lane, LinkStats } from '@geoml/transport';

/** Traffic on one directed link between regions, as the engine sent it (same shape as the network's). */
export type LinkTraffic = LinkStats;

/**
 * Counts what the engine sends per directed link and lane, whatever the transport: the measure behind
 * the threshold controller and the WAN totals when no emulated network reports its own.
 */
export class LinkMeter {
  private readonly links = new Map<string, LinkTraffic>();

  count(from: string, to: string, bytes: number, lane: Lane = 'data'): void {
    const key = `${from}\u0000${to}`;
    let link = this.links.get(key);
    if (!link) {
      link = { from, to, bytes: 0, messages: 0, controlBytes: 0, controlMessages: 0 };
      this.links.set(key, link);
    }
    if (lane === 'control') {
      link.controlBytes += bytes;
      link.controlMessages++;
    } else {
      link.bytes += bytes;
      link.messages++;
    }
  }

  /** Every link that carried something, sorted by (from, to). */
  stats(): LinkTraffic[] {
    return [...this.links.values()]
      .map((l) => ({ ...l }))
      .sort((a, b) => (a.from === b.from ? a.to.localeCompare(b.to) : a.from.localeCompare(b.from)));
  }

  /** Bytes and messages (both lanes) on links between different regions. */
  wan(): { bytes: number; messages: number } {
    let bytes = 0;
    let messages = 0;
    for (const l of this.links.values()) {
      if (l.from === l.to) continue;
      bytes += l.bytes + l.controlBytes;
      messages += l.messages + l.controlMessages;
    }
    return { bytes, messages };
  }
}
