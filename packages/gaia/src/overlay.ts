import { ConfigError } from '@geoml/core';
import { z } from 'zod';

/**
 * Gaia's overlay network (reference/gaia.md §1.6): regions in groups, one hub each. Inside a group the
 * regions mirror each other directly; a hub also aggregates what its group shipped and sends the
 * significant part of that aggregate to the other hubs, and forwards what they send to its members.
 */
export const overlaySchema = z.union([
  z.enum(['none', 'gaia-ec2-11']),
  z
    .object({
      groups: z
        .array(z.object({ hub: z.string().min(1), members: z.array(z.string().min(1)) }).strict())
        .min(1),
    })
    .strict(),
]);

export type Overlay = z.output<typeof overlaySchema>;

/** One group of the overlay: its hub and the other regions in it. */
export interface OverlayGroup {
  readonly hub: string;
  readonly members: readonly string[];
}

/** The authors' groups for their 11 EC2 regions (`caffe_geeps.cpp`), in `EC2_11_REGIONS` ids. */
export const GAIA_EC2_11_GROUPS: readonly OverlayGroup[] = [
  { hub: 'virginia', members: ['california', 'oregon', 'sao-paulo'] },
  { hub: 'tokyo', members: ['seoul', 'singapore', 'sydney'] },
  { hub: 'frankfurt', members: ['ireland', 'mumbai'] },
];

/** A region's place in the overlay, as its mirrors need it. */
export interface OverlayRole {
  /** The hub of the region's group (the region itself when it is the hub). */
  readonly hub: string;
  /** The hubs of the other groups. */
  readonly otherHubs: readonly string[];
  /** The other regions of its group, which it mirrors directly. */
  readonly groupPeers: readonly string[];
}

/**
 * The overlay's groups for a run over `regions`, or `undefined` for all-to-all mirroring (`'none'`).
 * `ConfigError` naming the field when a region is unknown, in two groups or in none, or when the mode
 * is not an ASP one.
 */
export function resolveOverlay(
  overlay: Overlay,
  regions: readonly string[],
  mode: string,
): OverlayGroup[] | undefined {
  if (overlay === 'none') return undefined;
  if (!mode.startsWith('asp')) {
    throw new ConfigError(`overlay: hubs relay mirrored updates, so they need an ASP mode, not ${mode}`, [
      'overlay',
    ]);
  }
  const groups = overlay === 'gaia-ec2-11' ? GAIA_EC2_11_GROUPS : overlay.groups;
  const field = (g: number, m?: number) =>
    overlay === 'gaia-ec2-11'
      ? 'overlay'
      : m === undefined
        ? `overlay.groups.${g}.hub`
        : `overlay.groups.${g}.members.${m}`;
  const known = new Set(regions);
  const seen = new Map<string, string>();
  groups.forEach((group, g) => {
    [group.hub, ...group.members].forEach((region, j) => {
      const at = field(g, j === 0 ? undefined : j - 1);
      if (!known.has(region)) {
        throw new ConfigError(`${at}: region ${region} is not in the run's regions [${regions.join(', ')}]`, [
          at,
        ]);
      }
      const before = seen.get(region);
      if (before) throw new ConfigError(`${at}: region ${region} is already in ${before}`, [at]);
      seen.set(region, at);
    });
  });
  const missing = regions.filter((r) => !seen.has(r));
  if (missing.length > 0) {
    const at = overlay === 'gaia-ec2-11' ? 'overlay' : 'overlay.groups';
    throw new ConfigError(`${at}: regions in no group: ${missing.join(', ')}`, [at]);
  }
  return groups.map((g) => ({ hub: g.hub, members: [...g.members] }));
}

/** Where `region` sits in `groups` (which `resolveOverlay` checked). */
export function overlayRole(groups: readonly OverlayGroup[], region: string): OverlayRole {
  const mine = groups.find((g) => g.hub === region || g.members.includes(region));
  if (!mine) throw new RangeError(`region ${region} is in no overlay group`);
  return {
    hub: mine.hub,
    otherHubs: groups.filter((g) => g !== mine).map((g) => g.hub),
    groupPeers: [mine.hub, ...mine.members].filter((r) => r !== region),
  };
}
