import { TransportError } from './errors.js';
import { type HubMessage, type HubSubscriber, takeData } from './in-process-hub.js';
import { InProcessQueue } from './in-process-queue.js';
import type { Headers, Lane, Msg, Subscription } from './transport.js';

/** What a subscription needs from its connection. */
export interface SubscriptionOwner {
  readonly region: string;
  publish(subject: string, data: Uint8Array, options?: { headers?: Headers; lane?: Lane }): void;
  /** Reports a problem on the connection's status stream. */
  report(error: Error): void;
  /** The subscription has ended. */
  forget(subscription: InProcessSubscription): void;
  /** Stops the hub from routing to `subscriber`. */
  detach(subscriber: HubSubscriber): void;
}

/** A received message; `respond` answers through the connection that received it. */
export class InProcessMsg implements Msg {
  constructor(
    readonly subject: string,
    readonly data: Uint8Array,
    readonly headers: Headers | undefined,
    readonly reply: string | undefined,
    private readonly lane: Lane,
    private readonly owner: SubscriptionOwner,
  ) {}

  respond(data: Uint8Array, options?: { headers?: Headers }): boolean {
    if (this.reply === undefined) return false;
    // Answers travel on the lane the question came on, so a control request gets a control reply.
    this.owner.publish(this.reply, data, { headers: options?.headers, lane: this.lane });
    return true;
  }
}

/** Makes the `Msg` a receiver sees: its own payload bytes and headers. */
export function receive(msg: HubMessage, owner: SubscriptionOwner): InProcessMsg {
  const headers = msg.headers ? { ...msg.headers } : undefined;
  return new InProcessMsg(msg.subject, takeData(msg), headers, msg.reply, msg.lane, owner);
}

/**
 * A subscription of an in-process connection: a FIFO mailbox the hub fills and one `for await` drains.
 * It stops taking messages on `unsubscribe()`, after `max` messages, on drain and on close; iteration
 * then ends once the messages it already holds are read.
 */
export class InProcessSubscription implements Subscription, HubSubscriber {
  readonly tokens: readonly string[];
  readonly region: string;
  readonly closed: Promise<void>;
  private readonly mailbox: InProcessQueue<Msg>;
  private readonly resolveClosed: () => void;
  private received = 0;
  private inflight = 0;
  private idle: (() => void) | undefined;
  private state: 'active' | 'draining' | 'stopped' = 'active';
  private dropped = 0;

  constructor(
    readonly subject: string,
    readonly queue: string | undefined,
    private readonly max: number | undefined,
    pendingLimit: number,
    private readonly owner: SubscriptionOwner,
  ) {
    this.tokens = subject.split('.');
    this.region = owner.region;
    this.mailbox = new InProcessQueue<Msg>(pendingLimit, () => this.unsubscribe());
    let resolve!: () => void;
    this.closed = new Promise<void>((r) => {
      resolve = r;
    });
    this.resolveClosed = resolve;
  }

  expect(): void {
    this.inflight++;
  }

  arrive(msg: HubMessage | undefined): void {
    this.inflight--;
    if (msg && this.state !== 'stopped' && (this.max === undefined || this.received < this.max)) {
      this.received++;
      if (!this.mailbox.push(receive(msg, this.owner))) {
        this.dropped++;
        this.owner.report(
          new TransportError(
            'TOO_LARGE',
            `slow consumer: subscription '${this.subject}' holds ${this.mailbox.size} unread messages; ` +
              `dropped ${this.dropped} so far`,
          ),
        );
      }
      if (this.max !== undefined && this.received >= this.max) this.stop();
    }
    if (this.inflight === 0) {
      const idle = this.idle;
      this.idle = undefined;
      idle?.();
    }
  }

  unsubscribe(): void {
    this.stop();
  }

  /** Stops matching new messages, takes those already on their way, then ends. */
  async drain(): Promise<void> {
    if (this.state !== 'active') return this.closed;
    this.state = 'draining';
    this.owner.detach(this);
    if (this.inflight > 0) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
      });
    }
    this.stop();
  }

  /** Ends the subscription; iteration finishes after the messages already held. */
  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.owner.detach(this);
    this.mailbox.end();
    this.owner.forget(this);
    this.resolveClosed();
  }

  [Symbol.asyncIterator](): AsyncIterator<Msg> {
    return this.mailbox[Symbol.asyncIterator]();
  }
}
