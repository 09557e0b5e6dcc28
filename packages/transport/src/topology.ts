import { parseConfig } from '@geoml/core';
import { z } from 'zod';

const bandwidthMbps = z.number().finite().positive();
const latencyMs = z.number().finite().nonnegative();

/** A region's own network (between its machines), when it is modelled. */
export const lanLinkSchema = z.strictObject({ bandwidthMbps, latencyMs });

/** One directed WAN link: `bandwidthMbps` in Mbit/s, `latencyMs` one way. */
export const linkSchema = z.strictObject({
  from: z.string().min(1),
  to: z.string().min(1),
  bandwidthMbps,
  latencyMs,
});

/**
 * A network of regions joined by directed links. Links need not be complete or symmetric; sending over a
 * link that is missing fails when it is used. `lan` optionally models a region's own network; without it,
 * messages within a region are not delayed.
 */
export const topologySchema = z
  .strictObject({
    regions: z.array(z.string().min(1)).min(1),
    links: z.array(linkSchema),
    lan: z.record(z.string(), lanLinkSchema).optional(),
  })
  .superRefine((topology, ctx) => {
    const regions = new Set<string>();
    topology.regions.forEach((region, i) => {
      if (regions.has(region)) {
        ctx.addIssue({ code: 'custom', path: ['regions', i], message: `duplicate region '${region}'` });
      }
      regions.add(region);
    });
    const seen = new Set<string>();
    topology.links.forEach((link, i) => {
      for (const end of ['from', 'to'] as const) {
        if (!regions.has(link[end])) {
          ctx.addIssue({ code: 'custom', path: ['links', i, end], message: `unknown region '${link[end]}'` });
        }
      }
      if (link.from === link.to) {
        ctx.addIssue({
          code: 'custom',
          path: ['links', i, 'to'],
          message: `a link from '${link.from}' to itself: model a region's own network with 'lan'`,
        });
      }
      const key = `${link.from}\u0000${link.to}`;
      if (seen.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['links', i],
          message: `duplicate link from '${link.from}' to '${link.to}'`,
        });
      }
      seen.add(key);
    });
    for (const region of Object.keys(topology.lan ?? {})) {
      if (!regions.has(region)) {
        ctx.addIssue({ code: 'custom', path: ['lan', region], message: `unknown region '${region}'` });
      }
    }
  });

export type Topology = z.output<typeof topologySchema>;
export type TopologyLink = z.output<typeof linkSchema>;

/** Validates a topology; a bad one fails with `ConfigError` naming the field (`links.3.bandwidthMbps`). */
export function parseTopology(input: unknown): Topology {
  return parseConfig(topologySchema, input, 'topology');
}
