import { VirtualClock } from '@geoml/core';
import { EmulatedNetwork, InProcessHub, topologyProfile } from '@geoml/transport';
import { Mirror } from '../src/mirror.js';
import { ParameterShard } from '../src/parameter-shard.js';

/**
 * Two `size`-key shards (all values 1) mirroring each other over the emulated ss link (164 ms one way,
 * ~16.7 Mbit/s × `wanScale`) in virtual time, with τ0 = 0 (every change ships) and the default
 * barrier bound; `a` in Singapore, `b` in São Paulo.
 */
export function ssMirrors(options: { size: number; ds: number; wanScale?: number }) {
  const clock = new VirtualClock();
  const topology = topologyProfile('ss', { wanScale: options.wanScale ?? 1 });
  const hub = new InProcessHub({ clock, network: new EmulatedNetwork({ topology, clock }) });
  const node = (region: string, peer: string) => {
    const shard = new ParameterShard({ lo: 0, hi: options.size }, new Float32Array(options.size).fill(1));
    const mirror = new Mirror(hub.connect(region), clock, shard, {
      region,
      peers: [peer],
      subjectOf: (r) => `m.${r}`,
      ds: options.ds,
      barrier: true,
      barrierBytes: 65_536,
      filter: { tau0: 0 },
    });
    mirror.start();
    return { shard, mirror };
  };
  return { clock, hub, a: node('singapore', 'sao-paulo'), b: node('sao-paulo', 'singapore') };
}
