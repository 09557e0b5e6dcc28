/** Messages and subscriptions of `NatsTransport`: thin views over nats.js ones. */
import {
  type MsgHdrs,
  type Msg as NatsMsg,
  type Subscription as NatsSub,
  headers as natsHeaders,
} from '@nats-io/transport-node';
import { mapNatsError } from './nats-errors.js';
import { sharedIterable } from './nats-iterator.js';
import type { Headers, Msg, Subscription } from './transport.js';

/** Checks a payload against the server's max_payload; throws `TOO_LARGE`. */
export type SizeCheck = (bytes: number, what: string) => void;

export function toNatsHeaders(h: Headers | undefined): MsgHdrs | undefined {
  if (!h) return undefined;
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

export function fromNatsHeaders(h: MsgHdrs | undefined): Headers | undefined {
  if (!h) return undefined;
  const out: Headers = {};
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

/** A received message; headers are converted only when read. */
export class NatsTransportMsg implements Msg {
  private hdrs: Headers | undefined | null = null;
  constructor(
    private readonly m: NatsMsg,
    private readonly checkSize: SizeCheck,
  ) {}
  get subject(): string {
    return this.m.subject;
  }
  get data(): Uint8Array {
    return this.m.data;
  }
  get reply(): string | undefined {
    return this.m.reply || undefined;
  }
  get headers(): Headers | undefined {
    if (this.hdrs === null) this.hdrs = fromNatsHeaders(this.m.headers);
    return this.hdrs;
  }
  respond(data: Uint8Array, options?: { headers?: Headers }): boolean {
    if (!this.m.reply) return false;
    this.checkSize(data.length, `respond on ${this.m.subject}`);
    try {
      // Copied like a publish: the caller may reuse its buffer at once.
      return this.m.respond(data.slice(), { headers: toNatsHeaders(options?.headers) });
    } catch (err) {
      throw mapNatsError(err, `respond on ${this.m.subject}`);
    }
  }
}

export class NatsTransportSubscription implements Subscription {
  readonly closed: Promise<void>;
  private ended!: () => void;
  private readonly messages: AsyncIterable<Msg>;
  constructor(
    private readonly sub: NatsSub,
    readonly subject: string,
    checkSize: SizeCheck,
  ) {
    // nats.js settles `closed` only once an iterator has consumed everything; ours ends at unsubscribe.
    this.closed = Promise.race([
      sub.closed.then(() => undefined),
      new Promise<void>((r) => (this.ended = r)),
    ]);
    this.messages = sharedIterable(
      sub,
      (m) => new NatsTransportMsg(m, checkSize),
      () => this.unsubscribe(),
    );
  }
  unsubscribe(): void {
    if (!this.sub.isClosed()) this.sub.unsubscribe();
    this.ended();
  }
  [Symbol.asyncIterator](): AsyncIterator<Msg> {
    return this.messages[Symbol.asyncIterator]();
  }
}
