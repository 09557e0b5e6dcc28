import { ConfigError } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { EmulatedNetwork } from '../src/emulated-network.js';
import { topologyProfile } from '../src/profiles.js';
import { parseTopology, type Topology } from '../src/topology.js';

const good = (): Topology => ({
  regions: ['a', 'b', 'c'],
  links: [
    { from: 'a', to: 'b', bandwidthMbps: 100, latencyMs: 10 },
    { from: 'b', to: 'a', bandwidthMbps: 100, latencyMs: 10 },
  ],
  lan: { a: { bandwidthMbps: 1000, latencyMs: 0.25 } },
});

/** The ConfigError `input` is refused with. */
function refusal(input: unknown): ConfigError {
  try {
    parseTopology(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('the topology was accepted');
}

describe('topology', () => {
  it('accepts a valid topology, with or without LAN links', () => {
    expect(parseTopology(good())).toEqual(good());
    const { lan: _, ...withoutLan } = good();
    expect(parseTopology(withoutLan).lan).toBeUndefined();
  });

  it.each([
    [
      'a bandwidth that is not positive',
      (t: Topology) => (t.links[0]!.bandwidthMbps = 0),
      'links.0.bandwidthMbps',
    ],
    ['a negative latency', (t: Topology) => (t.links[1]!.latencyMs = -1), 'links.1.latencyMs'],
    [
      'a bandwidth given as text',
      (t: Topology) => ((t.links[0] as Record<string, unknown>).bandwidthMbps = '100'),
      'links.0.bandwidthMbps',
    ],
    ['a link to an unknown region', (t: Topology) => (t.links[1]!.to = 'mars'), 'links.1.to'],
    ['a link from an unknown region', (t: Topology) => (t.links[0]!.from = 'venus'), 'links.0.from'],
    ['a duplicate region', (t: Topology) => t.regions.push('b'), 'regions.3'],
    ['no regions', (t: Topology) => (t.regions = []), 'regions'],
    ['a link from a region to itself', (t: Topology) => (t.links[0]!.to = 'a'), 'links.0.to'],
    ['a duplicate link', (t: Topology) => t.links.push({ ...t.links[0]! }), 'links.2'],
    [
      'a LAN link of an unknown region',
      (t: Topology) => (t.lan!.z = { bandwidthMbps: 1, latencyMs: 1 }),
      'lan.z',
    ],
    ['a misspelt field', (t: Topology) => ((t.links[0] as Record<string, unknown>).bandwith = 5), 'links.0'],
  ])('refuses %s, naming the field', (_, spoil, field) => {
    const t = good();
    spoil(t);
    const error = refusal(t);
    expect(error.fields).toContain(field);
    expect(error.message).toContain(field);
  });

  it('refuses a topology that is not an object', () => {
    expect(refusal(null).code).toBe('INVALID_CONFIG');
    expect(refusal({ regions: ['a'] }).fields).toContain('links');
  });

  it('fails clearly when a message needs a link the topology lacks', () => {
    const network = new EmulatedNetwork({ topology: good() });
    expect(() => network.transmit('a', 'c', 10, 'data')).toThrow(/no link from 'a' to 'c'/);
    expect(() => network.transmit('a', 'nowhere', 10, 'data')).toThrow(ConfigError);
    expect(() => network.transmit('a', 'b', -1, 'data')).toThrow(RangeError);
  });

  it('refuses a bad topology when the network is built', () => {
    const t = good();
    t.links[0]!.latencyMs = Number.NaN;
    expect(() => new EmulatedNetwork({ topology: t })).toThrow(/links\.0\.latencyMs/);
  });
});

describe('profile what-if knobs', () => {
  it('wanLatencyScale multiplies every WAN one-way latency and leaves bandwidth and the LAN alone', () => {
    const base = topologyProfile('ec2-11', { withLan: true });
    // A power of two, so the scaled latencies compare exactly.
    const quarter = topologyProfile('ec2-11', { withLan: true, wanLatencyScale: 0.25 });
    expect(quarter.links.map((l) => l.latencyMs)).toEqual(base.links.map((l) => l.latencyMs * 0.25));
    expect(quarter.links.map((l) => l.bandwidthMbps)).toEqual(base.links.map((l) => l.bandwidthMbps));
    expect(quarter.lan).toEqual(base.lan);
    const ss = topologyProfile('ss', { wanLatencyScale: 0.01 }).links[0]!;
    expect(ss.latencyMs).toBeCloseTo((328.1 / 2) * 0.01, 9);
    // The lan profile has no WAN: its links keep the LAN latency whatever the scale.
    const lan = topologyProfile('lan', { wanLatencyScale: 0.5 });
    expect(lan.links.every((l) => l.latencyMs === 0.25)).toBe(true);
  });

  it('refuses a latency scale that is not a positive finite number, naming the field', () => {
    for (const bad of [0, -1, Number.POSITIVE_INFINITY, Number.NaN]) {
      try {
        topologyProfile('ss', { wanLatencyScale: bad });
        throw new Error(`wanLatencyScale ${bad} was accepted`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).fields).toContain('wanLatencyScale');
      }
    }
  });
});
