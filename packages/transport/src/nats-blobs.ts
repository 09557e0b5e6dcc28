/**
 * `BlobStore` over the JetStream Object Store (`@nats-io/obj`): blobs are chunked (at most the server's
 * max_payload per chunk) and verified against their SHA-256 digest on read.
 */
import { createHash } from 'node:crypto';
import { type ObjectInfo, type ObjectStore, setSha256Backend } from '@nats-io/obj';
import { TransportError } from './errors.js';
import type { NatsStoreContext } from './nats-kv.js';
import type { BlobInfo, BlobStore } from './transport.js';

// nats.js hashes every object it puts or gets, on the calling (main) thread, in pure JS by default:
// fetching a 0.8 MB model cost a serving process ~31 ms of main-thread CPU, ~6.7 ms with node:crypto's
// native SHA-256 (load ~9 on 2 cores). Process-wide; the same digests, only faster.
setSha256Backend('native');

const DIGEST_PREFIX = 'SHA-256=';

/**
 * The object store keeps `SHA-256=<base64url>`; users compare hex. Falls back to hashing `data` when
 * the digest is in another form (or absent, as for a deleted object).
 */
function hexSha256(info: ObjectInfo, data?: Uint8Array): string {
  if (info.digest.startsWith(DIGEST_PREFIX)) {
    const raw = Buffer.from(info.digest.slice(DIGEST_PREFIX.length), 'base64url');
    if (raw.length === 32) return raw.toString('hex');
  }
  return data ? createHash('sha256').update(data).digest('hex') : '';
}

function validateName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TransportError('BAD_SUBJECT', 'blob name must be a non-empty string');
  }
}

export class NatsBlobStore implements BlobStore {
  constructor(
    readonly bucket: string,
    private readonly os: ObjectStore,
    private readonly context: NatsStoreContext,
  ) {}

  private mapError(err: unknown, what: string): TransportError {
    return this.context.fail(err, what);
  }

  private toInfo(info: ObjectInfo, data?: Uint8Array): BlobInfo {
    return { bucket: this.bucket, name: info.name, size: info.size, sha256: hexSha256(info, data) };
  }

  async put(name: string, data: Uint8Array): Promise<BlobInfo> {
    validateName(name);
    this.context.ensureOpen(`blobs ${this.bucket}: put '${name}'`);
    try {
      return this.toInfo(await this.os.putBlob({ name }, data), data);
    } catch (err) {
      throw this.mapError(err, `blobs ${this.bucket}: put '${name}'`);
    }
  }

  async get(name: string): Promise<Uint8Array | null> {
    validateName(name);
    this.context.ensureOpen(`blobs ${this.bucket}: get '${name}'`);
    try {
      return await this.os.getBlob(name);
    } catch (err) {
      throw this.mapError(err, `blobs ${this.bucket}: get '${name}'`);
    }
  }

  async info(name: string): Promise<BlobInfo | null> {
    validateName(name);
    this.context.ensureOpen(`blobs ${this.bucket}: info '${name}'`);
    try {
      const info = await this.os.info(name);
      return info && !info.deleted ? this.toInfo(info) : null;
    } catch (err) {
      throw this.mapError(err, `blobs ${this.bucket}: info '${name}'`);
    }
  }

  async delete(name: string): Promise<boolean> {
    validateName(name);
    this.context.ensureOpen(`blobs ${this.bucket}: delete '${name}'`);
    try {
      const info = await this.os.info(name);
      if (!info || info.deleted) return false;
      await this.os.delete(name);
      return true;
    } catch (err) {
      throw this.mapError(err, `blobs ${this.bucket}: delete '${name}'`);
    }
  }

  async list(): Promise<BlobInfo[]> {
    this.context.ensureOpen(`blobs ${this.bucket}: list`);
    try {
      const all = await this.os.list();
      return all
        .filter((i) => !i.deleted)
        .map((i) => this.toInfo(i))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (err) {
      throw this.mapError(err, `blobs ${this.bucket}: list`);
    }
  }
}
