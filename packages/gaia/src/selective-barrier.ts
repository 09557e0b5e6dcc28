import { Condition } from './condition.js';

/**
 * Gaia's ASP selective barrier, receiving side. When a peer region's significant updates back up on
 * its link, the peer first sends just their indexes on the control lane; `block()` records them and
 * reads of exactly those keys wait (`waitClear`) until the values arrive (`release()`). Reads of other
 * keys go on. Data arrive in order per peer, so a barrier announced after its data is ignored.
 */
export class SelectiveBarrier {
  private readonly pending = new Map<string, { peer: string; seq: number; indices: Uint32Array }>();
  private readonly arrived = new Map<string, number>();
  private readonly changed = new Condition();

  /** Blocks reads of `indices` (sorted, shard-local) until `release(peer, seq)`. */
  block(peer: string, seq: number, indices: Uint32Array): void {
    if ((this.arrived.get(peer) ?? -1) >= seq || indices.length === 0) return;
    this.pending.set(key(peer, seq), { peer, seq, indices });
  }

  /** The values of `peer`'s message `seq` were applied: unblocks its keys (and any older ones). */
  release(peer: string, seq: number): void {
    this.arrived.set(peer, Math.max(seq, this.arrived.get(peer) ?? -1));
    let any = false;
    for (const [k, p] of this.pending) {
      if (p.peer === peer && p.seq <= seq) {
        this.pending.delete(k);
        any = true;
      }
    }
    if (any) this.changed.notify();
  }

  /** True when some key in `[lo, hi)` awaits a value. */
  isBlocked(lo: number, hi: number): boolean {
    for (const p of this.pending.values()) if (anyInRange(p.indices, lo, hi)) return true;
    return false;
  }

  /** Keys currently blocked, over all peers. */
  get blockedKeys(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.indices.length;
    return n;
  }

  /** Resolves when no key in `[lo, hi)` is blocked. */
  waitClear(lo: number, hi: number, signal?: AbortSignal): Promise<void> {
    return this.changed.wait(() => !this.isBlocked(lo, hi), signal);
  }
}

function key(peer: string, seq: number): string {
  return `${peer}#${seq}`;
}

/** Binary search: does sorted `indices` hold a value in `[lo, hi)`? */
function anyInRange(indices: Uint32Array, lo: number, hi: number): boolean {
  let a = 0;
  let b = indices.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    if ((indices[m] as number) < lo) a = m + 1;
    else b = m;
  }
  return a < indices.length && (indices[a] as number) < hi;
}
