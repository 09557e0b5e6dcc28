import {
  type ArtifactDraft,
  ArtifactError,
  type ArtifactInput,
  createArtifact,
  type ModelArtifact,
  parseArtifactDraft,
  parseConfig,
} from '@geoml/core';
import { z } from 'zod';
import { RegistryError, TransportError } from './errors.js';
import {
  checkSize,
  type FetchedArtifact,
  type ResolvedArtifact,
  type StoredFile,
  verifyFiles,
} from './model-registry-files.js';
import {
  allManifestsPattern,
  blobName,
  checkName,
  checkVersion,
  encodeManifest,
  manifestKey,
  manifestPattern,
  parseManifestKey,
} from './model-registry-layout.js';
import { ManifestCache } from './model-registry-manifests.js';
import { type ModelWatch, type ModelWatchOptions, modelWatch, reportTo } from './model-registry-watch.js';
import type { BlobStore, KvEntry, KvStore, Transport } from './transport.js';

export const modelRegistryOptionsSchema = z.object({
  /** Name of the kv bucket (manifests) and of the blob bucket (files). Default `geoml-models`. */
  bucket: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "expected 1-64 letters, digits, '-' or '_'")
    .default('geoml-models'),
  /** Files uploaded or downloaded at the same time by one publish or resolve. Default 4. */
  concurrency: z.number().int().min(1).max(64).default(4),
});
export type ModelRegistryOptions = z.input<typeof modelRegistryOptionsSchema>;

export type { ResolvedArtifact } from './model-registry-files.js';

// Each claim attempt loses only to a publisher that just claimed that version, so this bounds the
// number of publishers racing for one model rather than the registry's size.
const MAX_CLAIMS = 100;

/**
 * Versioned model artifacts over any `Transport`'s kv and blobs: training publishes, serving resolves
 * and watches. Layout (see `model-registry-layout.ts`): files go to content-addressed blobs
 * (`sha256-<hex>`) first, the manifest goes to kv key `manifest.<name>.<version>` last and only if that
 * key does not exist yet — so a reader never sees a manifest whose files are missing, and two
 * publishers never get the same version. Every read is verified; a bad manifest, a missing blob or a
 * tampered byte is a `RegistryError`, and the registry stays usable for other versions.
 */
export class ModelRegistry {
  readonly bucket: string;
  private readonly concurrency: number;
  private stores: Promise<{ kv: KvStore; blobs: BlobStore }> | undefined;
  private readonly manifests = new ManifestCache();

  constructor(
    private readonly transport: Transport,
    options: ModelRegistryOptions = {},
  ) {
    const parsed = parseConfig(modelRegistryOptionsSchema, options, 'model registry options');
    this.bucket = parsed.bucket;
    this.concurrency = parsed.concurrency;
  }

  /**
   * Stores the files and the manifest under the next free version of `input.name`, and returns the
   * published manifest. A draft that is malformed is refused with `RegistryError` `INVALID_MANIFEST`
   * naming the field, before anything is written. `input` may also be a draft from `prepare` (its files
   * already stored): then only the manifest is written, and a file the store does not hold intact is
   * `MISSING_BLOB`. Publishing one draft twice gives two versions of the same files.
   */
  async publish(input: ArtifactInput | ArtifactDraft): Promise<ModelArtifact> {
    const draft = isDraft(input) ? await this.checkStored(input) : await this.prepare(input);
    const { kv } = await this.open();
    let version = ((await this.list(draft.name)).at(-1) ?? 0) + 1;
    for (let attempt = 0; attempt < MAX_CLAIMS; attempt++, version++) {
      const artifact: ModelArtifact = { ...draft, version };
      try {
        await kv.update(manifestKey(draft.name, version), encodeManifest(artifact), 0);
        return artifact;
      } catch (e) {
        if (!(e instanceof TransportError && e.code === 'WRONG_REVISION')) throw e;
      }
    }
    throw new RegistryError(
      'CONFLICT',
      `${draft.name}: could not claim a version in ${MAX_CLAIMS} attempts (too many concurrent publishers)`,
    );
  }

  /**
   * The first half of `publish`: hashes the files, checks the manifest and stores the files (one blob
   * per distinct content, skipped when the store already holds it intact), without claiming a version.
   * Returns the draft to `publish` later — e.g. a trainer uploads while it evaluates, then publishes
   * only the manifest, which is what a watcher reacts to.
   */
  async prepare(input: ArtifactInput): Promise<ArtifactDraft> {
    const draft = checkedDraft(() => createArtifact(input));
    const { blobs } = await this.open();
    // Content addressing: one upload per distinct content, skipped when the store already holds it intact.
    const unique = new Map(draft.files.map((f) => [f.sha256, input.files[f.path]!]));
    await eachLimited([...unique], this.concurrency, async ([sha256, bytes]) => {
      const name = blobName(sha256);
      const existing = await blobs.info(name);
      if (existing && existing.sha256 === sha256 && existing.size === bytes.byteLength) return;
      const stored = await blobs.put(name, bytes);
      if (stored.sha256 !== sha256)
        throw new RegistryError(
          'HASH_MISMATCH',
          `${draft.name}: the blob store holds sha256 ${stored.sha256} for ${name} just written`,
        );
    });
    return draft;
  }

  /** A prepared draft, validated, whose every file the store holds with the draft's size and sha256. */
  private async checkStored(input: ArtifactDraft): Promise<ArtifactDraft> {
    const draft = checkedDraft(() => parseArtifactDraft(input));
    const { blobs } = await this.open();
    await eachLimited(draft.files, this.concurrency, async (file) => {
      const info = await blobs.info(blobName(file.sha256));
      if (!info || info.sha256 !== file.sha256 || info.size !== file.size)
        throw new RegistryError(
          'MISSING_BLOB',
          `${draft.name}: file "${file.path}" is not stored (sha256 ${file.sha256}); prepare the draft first`,
        );
    });
    return draft;
  }

  /**
   * The manifest and verified files of `name` at `version` (default the latest). `RegistryError`:
   * `NOT_FOUND` (no such model or version), `INVALID_MANIFEST`, `MISSING_BLOB` (naming the file),
   * `HASH_MISMATCH` (naming the file). For 'latest', the highest version is taken even when it is
   * broken: the error says so, and the caller may resolve an older version explicitly.
   */
  async resolve(name: string, version: number | 'latest' = 'latest'): Promise<ResolvedArtifact> {
    return verifyFiles(await this.fetch(name, version));
  }

  /**
   * The manifest and every file of `name` at `version` as stored, without hashing them (errors as
   * `resolve`, but a changed byte is for the reader to find: see `FetchedArtifact`). From a store in
   * this process the bytes are its shared memory, not copies: for a consumer that checks and uses
   * them off the main thread (Clipper's ONNX container hashes and builds in its worker thread).
   */
  async fetch(name: string, version: number | 'latest' = 'latest'): Promise<FetchedArtifact> {
    const artifact = await this.manifest(name, version);
    const { blobs } = await this.open();
    const files: Record<string, StoredFile> = {};
    await eachLimited(artifact.files, this.concurrency, async (file) => {
      const blob = blobName(file.sha256);
      const bytes = blobs.share ? await blobs.share(blob) : await blobs.get(blob);
      if (!bytes)
        throw new RegistryError(
          'MISSING_BLOB',
          `${name} v${artifact.version}: blob ${blob} of file "${file.path}" is missing`,
        );
      // A plain Uint8Array view (no copy) whatever the transport returns (nats.js gives Buffers).
      const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      checkSize(artifact, file, view);
      const { path, size, sha256 } = file;
      files[path] = { path, size, sha256, bytes: view, shared: blobs.share !== undefined };
    });
    return { artifact, files };
  }

  /** The validated manifest alone, without downloading files (errors as `resolve`). */
  async manifest(name: string, version: number | 'latest' = 'latest'): Promise<ModelArtifact> {
    checkName(name);
    let v = checkVersion(version);
    if (v === 'latest') {
      const versions = await this.list(name);
      if (versions.length === 0) throw new RegistryError('NOT_FOUND', `model "${name}" has no versions`);
      v = versions.at(-1)!;
    }
    const { kv } = await this.open();
    const entry = await kv.get(manifestKey(name, v));
    if (!entry) throw new RegistryError('NOT_FOUND', `model "${name}" has no version ${v}`);
    return this.manifests.decode(entry, name, v);
  }

  /** Published versions of `name`, ascending; empty for an unknown model. */
  async list(name: string): Promise<number[]> {
    checkName(name);
    const { kv } = await this.open();
    const versions: number[] = [];
    for (const key of await kv.keys(manifestPattern(name))) {
      const parsed = parseManifestKey(key);
      if (parsed?.name === name) versions.push(parsed.version);
    }
    return versions.sort((a, b) => a - b);
  }

  /** Names of all models with at least one version, sorted. */
  async names(): Promise<string[]> {
    const { kv } = await this.open();
    const names = new Set<string>();
    for (const key of await kv.keys(allManifestsPattern)) {
      const parsed = parseManifestKey(key);
      if (parsed) names.add(parsed.name);
    }
    return [...names].sort();
  }

  /**
   * Yields each new version of `name` as it is published (see `ModelWatch`). Resolves once the watch is
   * live: anything published after that is seen. Malformed manifests are skipped and reported through
   * `options.onError`; they never end the watch.
   */
  async watch(name: string, options: ModelWatchOptions = {}): Promise<ModelWatch> {
    checkName(name);
    const { kv } = await this.open();
    // Live first, then read what exists: a version published in between shows up in both, and the
    // watch drops what it has already passed.
    const kvWatch = await kv.watch({ key: manifestPattern(name), includeHistory: false });
    try {
      const versions = await this.list(name);
      const after = versions.at(-1) ?? 0;
      let first: ModelArtifact | undefined;
      if (options.fromLatest) {
        const report = reportTo(options.onError);
        for (const v of versions.reverse()) {
          try {
            first = await this.manifest(name, v);
            break;
          } catch (e) {
            if (!(e instanceof RegistryError)) throw e;
            report(e);
          }
        }
      }
      const decode = (entry: KvEntry, version: number) => this.manifests.decode(entry, name, version);
      return modelWatch(name, kvWatch, { first, after, decode }, options);
    } catch (e) {
      kvWatch.stop();
      throw e;
    }
  }

  // Opened on first use; a failed open is retried by the next call instead of poisoning the registry.
  private open(): Promise<{ kv: KvStore; blobs: BlobStore }> {
    this.stores ??= Promise.all([this.transport.kv(this.bucket), this.transport.blobs(this.bucket)]).then(
      ([kv, blobs]) => ({ kv, blobs }),
      (e) => {
        this.stores = undefined;
        throw e;
      },
    );
    return this.stores;
  }
}

/**
 * The draft `make` returns, refused as `INVALID_MANIFEST` when malformed or when its manifest would be
 * oversized (at the largest version number it could get), before anything is written.
 */
function checkedDraft(make: () => ArtifactDraft): ArtifactDraft {
  let draft: ArtifactDraft;
  try {
    draft = make();
  } catch (e) {
    if (e instanceof ArtifactError) throw new RegistryError('INVALID_MANIFEST', e.message, { cause: e });
    throw e;
  }
  encodeManifest({ ...draft, version: Number.MAX_SAFE_INTEGER });
  return draft;
}

/** A draft from `prepare` (files listed with their sha256) rather than files' bytes to publish. */
function isDraft(input: ArtifactInput | ArtifactDraft): input is ArtifactDraft {
  return Array.isArray((input as { files?: unknown })?.files);
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects with the first failure. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
