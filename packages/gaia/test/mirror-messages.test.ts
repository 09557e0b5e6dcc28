import { describe, expect, it } from 'vitest';
import { announcedKeys, type BarrierMeta, barrierMessage } from '../src/mirror-messages.js';
import { decodeMessage } from '../src/wire.js';

const roundTrip = (bytes: Uint8Array, size: number) => {
  const { meta, tensors } = decodeMessage<BarrierMeta>(bytes);
  return { meta, keys: [...announcedKeys(meta, tensors, size)] };
};

describe('selective-barrier announcements', () => {
  it('carry a few keys as varints and many as a bitmap, whichever is smaller', () => {
    const size = 8000;
    const few = Uint32Array.from([3, 90, 4000]);
    const many = Uint32Array.from({ length: 4000 }, (_, j) => 2 * j);
    const small = barrierMessage('sp', 7, few, size);
    const large = barrierMessage('sp', 8, many, size);
    expect(roundTrip(small, size)).toEqual({ meta: { from: 'sp', seq: 7, n: 3 }, keys: [...few] });
    expect(roundTrip(large, size).keys).toEqual([...many]);
    // 4 000 one-byte varints against a 1 000-byte bitmap
    expect(large.length).toBeLessThan(1100);
    expect(roundTrip(barrierMessage('sp', 9, undefined, 5), 5).keys).toEqual([0, 1, 2, 3, 4]);
  });
});
