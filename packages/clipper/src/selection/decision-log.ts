import { hashInput } from '../prediction-cache.js';

/** One selection decision, as logged for feedback joins and offline (off-policy) evaluation. */
export interface SelectionDecision {
  readonly queryId: number;
  readonly app: string;
  /** The user or context key whose state decided. */
  readonly context: string;
  readonly policy: string;
  /** Clock ms. */
  readonly at: number;
  /** The models asked. */
  readonly models: readonly string[];
  /** Per linked model, the probability it was chosen with (the propensity). */
  readonly probabilities: Readonly<Record<string, number>>;
  readonly weights?: Readonly<Record<string, number>>;
  /** Asked models that answered by the deadline, and those that did not. */
  readonly arrived: readonly string[];
  readonly missing: readonly string[];
  readonly confidence: number;
  /** Hash of the query's input, to join feedback that names the input instead of the query. */
  readonly inputHash?: string;
}

interface Entry {
  readonly decision: SelectionDecision;
  /** The arrived outputs, kept to judge feedback without asking the models again. */
  readonly outputs: ReadonlyMap<string, unknown>;
}

/** The last `capacity` decisions of this frontend, oldest dropped first. */
export class DecisionLog {
  private readonly entries = new Map<number, Entry>();

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 0)) {
      throw new RangeError(`decision log capacity must be a non-negative integer, got ${capacity}`);
    }
  }

  add(decision: SelectionDecision, outputs: ReadonlyMap<string, unknown>): void {
    if (this.capacity === 0) return;
    this.entries.set(decision.queryId, { decision, outputs });
    // Map iteration is insertion order: the first key is the oldest.
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  byQuery(queryId: number): Entry | undefined {
    return this.entries.get(queryId);
  }

  /** The newest decision of `app` for `context` on an input with this hash. */
  byInput(app: string, context: string, inputHash: string): Entry | undefined {
    const all = [...this.entries.values()];
    for (let i = all.length - 1; i >= 0; i--) {
      const d = all[i]!.decision;
      if (d.app === app && d.context === context && d.inputHash === inputHash) return all[i];
    }
    return undefined;
  }

  /** Decisions, oldest first, optionally of one application. */
  list(app?: string): SelectionDecision[] {
    const out: SelectionDecision[] = [];
    for (const { decision } of this.entries.values()) if (!app || decision.app === app) out.push(decision);
    return out;
  }
}

/** The `inputHash` of a decision on `input`; undefined for no input or one that cannot be hashed. */
export function inputHashOf(input: unknown): string | undefined {
  try {
    return input === undefined ? undefined : hashInput(input);
  } catch {
    return undefined;
  }
}
