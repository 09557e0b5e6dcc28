import { z } from 'zod';

/** A canary's share of its model's live traffic: in (0, 1]. */
export const canaryShareSchema = z.strictObject({ share: z.number().gt(0).max(1) });

/** What `ModelInfo.canary` shows. */
export interface CanaryInfo {
  readonly version: string;
  readonly share: number;
}

/**
 * A canary split: `share` of a model's live traffic goes to `version`, the rest to the serving version.
 * The choice is a Bresenham-style accumulator, not a random draw: deterministic, and after n queries the
 * canary has received floor(n · share) or one more — the share holds tightly from the first queries on,
 * which is what a canary judged on a few hundred queries needs.
 */
export class CanarySplit implements CanaryInfo {
  private credit = 0;

  constructor(
    readonly version: string,
    readonly share: number,
  ) {}

  /** Whether the next query goes to the canary. */
  take(): boolean {
    this.credit += this.share;
    // The tolerance absorbs float drift (ten additions of 0.1 sum to 0.9999999999999999).
    if (this.credit < 1 - 1e-9) return false;
    this.credit -= 1;
    return true;
  }

  info(): CanaryInfo {
    return { version: this.version, share: this.share };
  }
}
