import type { SelectionUpdate } from './selection/model-selection.js';

/** Feedback received by `Clipper.update`, kept (bounded) for the selection layer. */
export interface FeedbackRecord {
  readonly app: string;
  readonly feedback: unknown;
  /** Clock ms. */
  readonly receivedAt: number;
  /** What the feedback did to the application's selection state (not for the `default` policy). */
  readonly selection?: SelectionUpdate;
}

/** The feedback of each application, oldest first, at most `limit` records per application. */
export class FeedbackLog {
  private readonly records = new Map<string, FeedbackRecord[]>();

  constructor(private readonly limit: number) {}

  open(app: string): void {
    this.records.set(app, []);
  }

  delete(app: string): void {
    this.records.delete(app);
  }

  add(record: FeedbackRecord): void {
    const log = this.records.get(record.app) ?? [];
    this.records.set(record.app, log);
    log.push(record);
    if (log.length > this.limit) log.splice(0, log.length - this.limit);
  }

  list(app: string): readonly FeedbackRecord[] {
    return [...(this.records.get(app) ?? [])];
  }
}
