import type { Clock } from '@geoml/core';
import { ConfigError } from '@geoml/core';
import {
  EmulatedNetwork,
  InProcessHub,
  type Network,
  type ProfileOptions,
  type Transport,
  topologyProfile,
} from '@geoml/transport';
import type { TrainConfig } from './train-config.js';

/** The in-process world a run lives in: its regions, connections, and the network's own counts. */
export interface Emulation {
  readonly regions: readonly string[];
  connect(region: string): Transport;
  /** WAN totals (both lanes, links between different regions) counted by the emulated network. */
  wan?(): { bytes: number; messages: number };
}

/**
 * Builds the in-process hub for a run: over an emulated topology profile (`lan`, `vc`, `ss`,
 * `ec2-11`, with `profileOptions` such as `wanScale`), or over plain region names with an optional
 * `network` of the caller's.
 */
export function createEmulation(
  topology: TrainConfig['topology'],
  clock: Clock,
  network: Network | undefined,
  count: number | undefined,
  profileOptions: ProfileOptions | undefined,
): Emulation {
  let regions: string[];
  let emulated: EmulatedNetwork | undefined;
  if (typeof topology === 'string') {
    emulated = new EmulatedNetwork({ topology: topologyProfile(topology, profileOptions), clock });
    regions = [...emulated.regions];
  } else {
    regions = [...topology.regions];
  }
  if (count !== undefined) {
    if (count > regions.length) {
      throw new ConfigError(`regions: ${count} asked, the topology has ${regions.length}`, ['regions']);
    }
    regions = regions.slice(0, count);
  }
  const net = emulated ?? network;
  const hub = new InProcessHub({ clock, ...(net ? { network: net } : {}) });
  return {
    regions,
    connect: (r) => hub.connect(r),
    ...(emulated
      ? {
          wan: () => {
            let bytes = 0;
            let messages = 0;
            for (const l of (emulated as EmulatedNetwork).stats()) {
              if (l.from === l.to) continue;
              bytes += l.bytes + l.controlBytes;
              messages += l.messages + l.controlMessages;
            }
            return { bytes, messages };
          },
        }
      : {}),
  };
}
