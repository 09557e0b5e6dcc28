/**
 * `KvStore` over JetStream KV (`@nats-io/kv`). Kept to what nats-server 2.9 supports: one key or
 * wildcard per watch, no compression, no metadata.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { type KV, KvWatchInclude, type KvEntry as NatsKvEntry } from '@nats-io/kv';
import { TransportError } from './errors.js';
import { sharedIterable } from './nats-iterator.js';
import type { KvEntry, KvStore, KvWatch, KvWatchOptions } from './transport.js';

const validBucket = /^[-\w]+$/;
const validKey = /^[-/=.\w]+$/;
const validKeyPattern = /^[-/=.\w*>]+$/;

/** Throws `BAD_SUBJECT` unless `bucket` is a valid JetStream KV / Object Store bucket name. */
export function validateBucketName(bucket: string, what = 'bucket'): void {
  if (typeof bucket !== 'string' || !validBucket.test(bucket)) {
    throw new TransportError(
      'BAD_SUBJECT',
      `${what} name '${String(bucket)}' is invalid: use letters, digits, '_' and '-' only`,
    );
  }
}

function validateKey(key: string, pattern: boolean): void {
  const re = pattern ? validKeyPattern : validKey;
  if (
    typeof key !== 'string' ||
    !re.test(key) ||
    key.startsWith('.') ||
    key.endsWith('.') ||
    key.includes('..')
  ) {
    throw new TransportError(
      'BAD_SUBJECT',
      `kv key '${String(key)}' is invalid: dot-separated tokens of letters, digits and - / = _${pattern ? ', or * and >' : ''}`,
    );
  }
}

function toEntry(e: NatsKvEntry): KvEntry {
  return {
    bucket: e.bucket,
    key: e.key,
    value: e.operation === 'PUT' ? e.value : new Uint8Array(0),
    revision: e.revision,
    operation: e.operation === 'PUT' ? 'PUT' : 'DEL',
  };
}

/** Maps a client error of a KV call; `mapOther` handles everything that is not a KV conflict. */
function kvError(err: unknown, what: string, mapOther: (err: unknown) => TransportError): TransportError {
  if (err instanceof TransportError) return err;
  if (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  ) {
    return new TransportError('WRONG_REVISION', `${what}: ${err.message}`, { cause: err });
  }
  return mapOther(err);
}

/** What a kv or blob store needs from the connection it belongs to. */
export interface NatsStoreContext {
  /** Throws `CLOSED` once the connection is closed. */
  ensureOpen(what: string): void;
  /** Maps a client error to a `TransportError`. */
  fail(err: unknown, what: string): TransportError;
}

export class NatsKvStore implements KvStore {
  constructor(
    readonly bucket: string,
    private readonly kv: KV,
    private readonly context: NatsStoreContext,
  ) {}

  private fail(err: unknown, what: string): TransportError {
    return kvError(err, `kv ${this.bucket}: ${what}`, (e) =>
      this.context.fail(e, `kv ${this.bucket}: ${what}`),
    );
  }

  private open(what: string): void {
    this.context.ensureOpen(`kv ${this.bucket}: ${what}`);
  }

  async get(key: string): Promise<KvEntry | null> {
    this.open(`get '${key}'`);
    validateKey(key, false);
    for (let attempt = 1; ; attempt++) {
      try {
        const e = await this.kv.get(key);
        return e && e.operation === 'PUT' ? toEntry(e) : null;
      } catch (err) {
        const error = this.fail(err, `get '${key}'`);
        // A read changes nothing, so one lost request or reply should not fail it: one more try.
        // (Seen once in CI: a get on a just-created bucket timed out on a loaded 2-core machine.)
        if (error.code !== 'TIMEOUT' || attempt === 2) throw error;
      }
    }
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.open(`put '${key}'`);
    validateKey(key, false);
    try {
      return await this.kv.put(key, value);
    } catch (err) {
      throw this.fail(err, `put '${key}'`);
    }
  }

  async update(key: string, value: Uint8Array, previousRevision: number): Promise<number> {
    this.open(`update '${key}'`);
    validateKey(key, false);
    if (!Number.isInteger(previousRevision) || previousRevision < 0) {
      throw new TransportError(
        'WRONG_REVISION',
        `kv ${this.bucket}: previousRevision must be an integer >= 0, got ${previousRevision}`,
      );
    }
    try {
      // 0 = the key must not exist; JetStream's create also accepts a key whose last entry is a delete.
      if (previousRevision === 0) return await this.kv.create(key, value);
      return await this.kv.update(key, value, previousRevision);
    } catch (err) {
      throw this.fail(err, `update '${key}' at revision ${previousRevision}`);
    }
  }

  async delete(key: string): Promise<void> {
    this.open(`delete '${key}'`);
    validateKey(key, false);
    try {
      await this.kv.delete(key);
    } catch (err) {
      throw this.fail(err, `delete '${key}'`);
    }
  }

  async keys(filter?: string): Promise<string[]> {
    this.open('keys');
    if (filter !== undefined) validateKey(filter, true);
    try {
      const it = await this.kv.keys(filter ?? '>');
      const out: string[] = [];
      for await (const k of it) out.push(k);
      return out.sort();
    } catch (err) {
      throw this.fail(err, 'keys');
    }
  }

  async watch(options: KvWatchOptions = {}): Promise<KvWatch> {
    this.open('watch');
    const key = options.key ?? '>';
    validateKey(key, true);
    const include = options.includeHistory === false ? KvWatchInclude.UpdatesOnly : KvWatchInclude.LastValue;
    let it: Awaited<ReturnType<KV['watch']>>;
    // Entries up to this revision are the snapshot, where a delete means "absent", not news. (nats.js
    // flags the snapshot's last entry as an update, so `isUpdate` cannot tell.)
    let snapshotEnd = 0;
    try {
      if (include === KvWatchInclude.LastValue)
        snapshotEnd = (await this.kv.status()).streamInfo.state.last_seq;
      it = await this.kv.watch({ key, include });
    } catch (err) {
      throw this.fail(err, `watch '${key}'`);
    }
    const entries = sharedIterable(
      it,
      // The initial snapshot holds live keys only; deletes are news once watching.
      (e) => (e.revision <= snapshotEnd && e.operation !== 'PUT' ? undefined : toEntry(e)),
      () => it.stop(),
    );
    return {
      stop: () => it.stop(),
      [Symbol.asyncIterator]: () => entries[Symbol.asyncIterator](),
    };
  }
}
