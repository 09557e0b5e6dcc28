import { describe, expect, it } from 'vitest';
import { SelectiveBarrier } from '../src/selective-barrier.js';

describe('SelectiveBarrier', () => {
  it('blocks reads of just the announced keys until their values arrive', async () => {
    const b = new SelectiveBarrier();
    b.block('sp', 1, Uint32Array.from([3, 7]));
    expect(b.isBlocked(0, 3)).toBe(false);
    expect(b.isBlocked(4, 7)).toBe(false);
    expect(b.isBlocked(7, 8)).toBe(true);
    let other = false;
    let named = false;
    const readOther = b.waitClear(8, 100).then(() => {
      other = true;
    });
    const readNamed = b.waitClear(0, 5).then(() => {
      named = true;
    });
    await readOther;
    await Promise.resolve();
    expect(other).toBe(true);
    expect(named).toBe(false);
    b.release('sp', 0); // an older message does not release seq 1
    await Promise.resolve();
    expect(named).toBe(false);
    b.release('sp', 1);
    await readNamed;
    expect(named).toBe(true);
    expect(b.blockedKeys).toBe(0);
  });

  it('ignores a barrier announced after its data already arrived', () => {
    const b = new SelectiveBarrier();
    b.release('sp', 4);
    b.block('sp', 4, Uint32Array.from([1]));
    expect(b.isBlocked(0, 10)).toBe(false);
  });

  it('aborted waits reject', async () => {
    const b = new SelectiveBarrier();
    b.block('x', 0, Uint32Array.from([0]));
    const ac = new AbortController();
    const p = b.waitClear(0, 1, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});
