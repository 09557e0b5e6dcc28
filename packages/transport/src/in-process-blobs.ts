import { createHash } from 'node:crypto';
import { TransportError } from './errors.js';
import { copyBytes } from './in-process-copy.js';
import type { KvOwner } from './in-process-kv.js';
import type { BlobInfo, BlobStore } from './transport.js';

interface StoredBlob {
  readonly data: Uint8Array;
  readonly info: BlobInfo;
}

/** One blob bucket, shared by every connection of a hub. */
export class InProcessBlobBucket {
  readonly blobs = new Map<string, StoredBlob>();

  constructor(readonly name: string) {}
}

function validateBlobName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TransportError('BAD_SUBJECT', 'blob name must be a non-empty string');
  }
}

/**
 * A connection's view of a blob bucket; bytes are copied in and out, as over a wire, except through
 * `share`, which hands out the stored (shared, read-only) memory itself.
 */
export class InProcessBlobStore implements BlobStore {
  constructor(
    private readonly owner: Pick<KvOwner, 'ensureOpen'>,
    private readonly store: InProcessBlobBucket,
  ) {}

  get bucket(): string {
    return this.store.name;
  }

  async put(name: string, data: Uint8Array): Promise<BlobInfo> {
    this.owner.ensureOpen();
    validateBlobName(name);
    // Held in shared memory so that `share` can hand it to worker threads without a copy; never written
    // again (a second put under the name stores new memory), so a view handed out stays what it was.
    const stored = new Uint8Array(new SharedArrayBuffer(data.byteLength));
    stored.set(data);
    const sha256 = createHash('sha256').update(stored).digest('hex');
    const info: BlobInfo = { bucket: this.store.name, name, size: stored.byteLength, sha256 };
    this.store.blobs.set(name, { data: stored, info });
    return { ...info };
  }

  async get(name: string): Promise<Uint8Array | null> {
    this.owner.ensureOpen();
    validateBlobName(name);
    const blob = this.store.blobs.get(name);
    return blob ? copyBytes(blob.data) : null;
  }

  async share(name: string): Promise<Uint8Array | null> {
    this.owner.ensureOpen();
    validateBlobName(name);
    return this.store.blobs.get(name)?.data ?? null;
  }

  async info(name: string): Promise<BlobInfo | null> {
    this.owner.ensureOpen();
    validateBlobName(name);
    const blob = this.store.blobs.get(name);
    return blob ? { ...blob.info } : null;
  }

  async delete(name: string): Promise<boolean> {
    this.owner.ensureOpen();
    validateBlobName(name);
    return this.store.blobs.delete(name);
  }

  async list(): Promise<BlobInfo[]> {
    this.owner.ensureOpen();
    return [...this.store.blobs.values()]
      .map((b) => ({ ...b.info }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}
