import { randomBytes } from 'node:crypto';
import { type ArtifactInput, createRng, type ModelArtifact } from '@geoml/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessHub } from '../src/in-process-hub.js';
import { ModelRegistry, RegistryError, type Transport, verifyFiles } from '../src/index.js';
import { blobName } from '../src/model-registry-layout.js';
import { startNatsServer } from '../src/nats-server.js';
import { NatsTransport } from '../src/nats-transport.js';
import { startSupercluster } from '../src/supercluster.js';

/** Two connections to one deployment: the trainer's and the server's, in different regions. */
interface TransportPair {
  a: Transport;
  b: Transport;
  close(): Promise<void>;
}

async function inProcessPair(): Promise<TransportPair> {
  const hub = new InProcessHub();
  const a = hub.connect('r1');
  const b = hub.connect('r2');
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

async function natsPair(): Promise<TransportPair> {
  const server = await startNatsServer({ jetstream: true });
  const a = await NatsTransport.connect({ servers: server.url, region: 'r1', reconnect: false });
  const b = await NatsTransport.connect({ servers: server.url, region: 'r2', reconnect: false });
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await server.close();
    },
  };
}

const enc = (s: string) => new TextEncoder().encode(s);

/** A small onnx-format draft whose bytes depend on `seed`, so every version has distinct content. */
function draft(name: string, seed: number, extra: Partial<ArtifactInput> = {}): ArtifactInput {
  const rng = createRng(seed);
  const model = new Uint8Array(256 + seed);
  for (let i = 0; i < model.length; i++) model[i] = rng.int(256);
  return {
    name,
    format: 'onnx',
    files: { 'model.onnx': model, 'meta/labels.json': enc(`["seed-${seed}"]`) },
    metadata: { quality: { metric: 'accuracy', value: seed / 100, higherIsBetter: true } },
    ...extra,
  };
}

async function expectRegistryError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryError);
  expect((error as RegistryError).code).toBe(code);
  expect((error as Error).message).toMatch(message);
}

/** Collects `count` items of an async iterable, failing after `ms` so a missing event cannot hang the run. */
async function take<T>(iterable: AsyncIterable<T>, count: number, ms = 10_000): Promise<T[]> {
  const items: T[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out with ${items.length}/${count} items`)), ms);
  });
  try {
    await Promise.race([
      (async () => {
        for await (const item of iterable) {
          items.push(item);
          if (items.length >= count) break;
        }
      })(),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
  return items;
}

function describeRegistry(label: string, setup: () => Promise<TransportPair>): void {
  describe(`ModelRegistry over ${label}`, () => {
    let pair: TransportPair;
    let trainer: ModelRegistry;
    let server: ModelRegistry;
    let bucketCount = 0;
    // A fresh bucket per test keeps tests independent on a shared server.
    const registries = () => {
      const bucket = `models-${++bucketCount}`;
      trainer = new ModelRegistry(pair.a, { bucket });
      server = new ModelRegistry(pair.b, { bucket });
      return { trainer, server, bucket };
    };

    beforeAll(async () => {
      pair = await setup();
    });
    afterAll(async () => {
      await pair?.close();
    });

    it('publishes versions 1, 2, … and resolves each, and the latest, from another connection', async () => {
      const { trainer, server } = registries();
      const v1 = await trainer.publish(draft('mnist-mlp', 1));
      const v2 = await trainer.publish(draft('mnist-mlp', 2));
      expect([v1.version, v2.version]).toEqual([1, 2]);
      expect(v2.metadata.quality?.value).toBe(0.02);

      const latest = await server.resolve('mnist-mlp', 'latest');
      expect(latest.artifact).toEqual(v2);
      expect(latest.files['model.onnx']).toEqual(draft('mnist-mlp', 2).files['model.onnx']);
      const first = await server.resolve('mnist-mlp', 1);
      expect(first.artifact.sha256).toBe(v1.sha256);
      expect(new TextDecoder().decode(first.files['meta/labels.json'])).toBe('["seed-1"]');
      expect((await server.resolve('mnist-mlp')).artifact.version).toBe(2);
      expect(await server.manifest('mnist-mlp', 1)).toEqual(v1);

      await trainer.publish(draft('lda', 3));
      expect(await server.list('mnist-mlp')).toEqual([1, 2]);
      expect(await server.names()).toEqual(['lda', 'mnist-mlp']);
    });

    it('answers unknown models, versions and malformed arguments with typed errors', async () => {
      const { trainer, server } = registries();
      await expectRegistryError(server.resolve('nope'), 'NOT_FOUND', /model "nope" has no versions/);
      await trainer.publish(draft('m', 1));
      await expectRegistryError(server.resolve('m', 7), 'NOT_FOUND', /model "m" has no version 7/);
      await expectRegistryError(server.resolve('a.b'), 'INVALID_ARGUMENT', /invalid model name "a\.b"/);
      await expectRegistryError(server.resolve('m', 0), 'INVALID_ARGUMENT', /invalid model version 0/);
      await expectRegistryError(server.list('m>'), 'INVALID_ARGUMENT', /invalid model name/);
      expect(await server.list('never-published')).toEqual([]);
    });

    it('refuses a bad draft before writing anything', async () => {
      const { trainer, server } = registries();
      await expectRegistryError(
        trainer.publish(draft('m', 1, { files: { '../evil.onnx': enc('x') } })),
        'INVALID_MANIFEST',
        /files\.0\.path: file path "\.\.\/evil\.onnx" must not contain "\.\."/,
      );
      await expectRegistryError(
        trainer.publish(draft('m', 1, { format: 'tfjs-layers' })),
        'INVALID_MANIFEST',
        /files: a tfjs-layers artifact needs a model\.json file/,
      );
      await expectRegistryError(trainer.publish(draft('bad name', 1)), 'INVALID_MANIFEST', /name: /);
      await expectRegistryError(
        trainer.publish(draft('m', 1, { metadata: { notes: 'x'.repeat(2 * 1024 * 1024) } })),
        'INVALID_MANIFEST',
        /m: the manifest is \d+ bytes, more than 1048576; move large metadata into a file/,
      );
      expect(await server.names()).toEqual([]);
      expect(await (await pair.a.blobs(trainer.bucket)).list()).toEqual([]);
    });

    it('publishes a prepared draft as versions of the same files, writing only the manifest', async () => {
      const { trainer, server } = registries();
      const prepared = await trainer.prepare(draft('staged', 1));
      expect(await server.list('staged')).toEqual([]); // stored, not yet published
      expect(await (await pair.a.blobs(trainer.bucket)).list()).toHaveLength(2);
      const v1 = await trainer.publish(prepared);
      const v2 = await trainer.publish(prepared);
      expect([v1.version, v2.version]).toEqual([1, 2]);
      expect(v2.sha256).toBe(v1.sha256);
      const { files } = await server.resolve('staged', 2);
      expect(files['model.onnx']).toEqual(draft('staged', 1).files['model.onnx']);
    });

    it('refuses a draft whose files are not stored, or that is malformed, before publishing', async () => {
      const { trainer, server } = registries();
      const prepared = await trainer.prepare(draft('staged', 1));
      const other = registries().trainer; // another bucket: none of the files
      await expectRegistryError(
        other.publish(prepared),
        'MISSING_BLOB',
        /file "meta\/labels\.json" is not stored .*prepare the draft first/,
      );
      const resized = { ...prepared, files: prepared.files.map((f) => ({ ...f, size: f.size + 1 })) };
      await expectRegistryError(trainer.publish(resized), 'MISSING_BLOB', /is not stored/);
      await expectRegistryError(
        trainer.publish({ ...prepared, files: [{ path: '../x', size: 1, sha256: 'a'.repeat(64) }] }),
        'INVALID_MANIFEST',
        /must not contain "\.\."/,
      );
      expect(await server.list('staged')).toEqual([]);
    });

    it('gives concurrent publishers distinct versions, each with its own content', async () => {
      const { trainer, server } = registries();
      const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
      const published = await Promise.all(
        seeds.map((seed) => (seed % 2 ? trainer : server).publish(draft('race', seed))),
      );
      expect(published.map((a) => a.version).sort((x, y) => x - y)).toEqual(seeds);
      expect(await server.list('race')).toEqual(seeds);
      for (const [i, artifact] of published.entries()) {
        const { files } = await trainer.resolve('race', artifact.version);
        expect(files['model.onnx']).toEqual(draft('race', seeds[i]!).files['model.onnx']);
      }
    });

    it('stores identical files once, across versions', async () => {
      const { trainer } = registries();
      const a = await trainer.publish(draft('dedup', 1));
      const b = await trainer.publish(draft('dedup', 1, { metadata: { note: 'same bytes, new version' } }));
      expect(b.version).toBe(2);
      expect(b.sha256).toBe(a.sha256);
      expect(await (await pair.a.blobs(trainer.bucket)).list()).toHaveLength(2);
    });

    it('watches: yields v2 and v3 published after the watch starts, then stops', async () => {
      const { trainer, server } = registries();
      await trainer.publish(draft('w', 1));
      const watch = await server.watch('w');
      const seen = take(watch, 2);
      await trainer.publish(draft('other', 9));
      const v2 = await trainer.publish(draft('w', 2));
      const v3 = await trainer.publish(draft('w', 3));
      expect(await seen).toEqual([v2, v3]);
      watch.stop();

      const fromLatest = await server.watch('w', { fromLatest: true });
      const next = take(fromLatest, 2);
      const v4 = await trainer.publish(draft('w', 4));
      expect((await next).map((a) => a.version)).toEqual([3, v4.version]);
      fromLatest.stop();
    });

    it('never shows a watcher a version whose files are not all stored yet', async () => {
      const { trainer, server } = registries();
      const watch = await server.watch('hot');
      const resolved = (async () => {
        const versions: number[] = [];
        for await (const artifact of watch) {
          // Resolve at once, as a hot-loader does: every blob must already be there and intact.
          const { files } = await server.resolve('hot', artifact.version);
          expect(files['weights.bin']!.byteLength).toBe(2 * 1024 * 1024);
          versions.push(artifact.version);
          if (versions.length === 4) break;
        }
        return versions;
      })();
      await Promise.all(
        [1, 2, 3, 4].map((seed) =>
          (seed % 2 ? trainer : server).publish(
            draft('hot', seed, {
              files: {
                ...draft('hot', seed).files,
                'weights.bin': new Uint8Array(randomBytes(2 * 1024 * 1024)),
              },
            }),
          ),
        ),
      );
      expect(await resolved).toEqual([1, 2, 3, 4]);
    });

    it('ends a watch on stop() or abort while it waits', async () => {
      const { server } = registries();
      const watch = await server.watch('idle');
      const ended = take(watch, 1);
      watch.stop();
      expect(await ended).toEqual([]);

      const controller = new AbortController();
      const aborted = await server.watch('idle', { signal: controller.signal });
      const endedToo = take(aborted, 1);
      controller.abort();
      expect(await endedToo).toEqual([]);
    });

    it('refuses a corrupt blob with HASH_MISMATCH naming the file; other versions still resolve', async () => {
      const { trainer, server } = registries();
      await trainer.publish(draft('c', 1));
      const v2 = await trainer.publish(draft('c', 2));
      const file = v2.files.find((f) => f.path === 'model.onnx')!;
      const blobs = await pair.a.blobs(trainer.bucket);
      const corrupt = (await blobs.get(blobName(file.sha256)))!.slice();
      corrupt[100]! ^= 0xff;
      await blobs.put(blobName(file.sha256), corrupt);

      await expectRegistryError(
        server.resolve('c', 2),
        'HASH_MISMATCH',
        /c v2: file "model\.onnx" has sha256 [0-9a-f]{64}, the manifest says/,
      );
      await expectRegistryError(server.resolve('c', 'latest'), 'HASH_MISMATCH', /model\.onnx/);
      expect((await server.resolve('c', 1)).artifact.version).toBe(1);
      // Publishing the same bytes again replaces the damaged blob, which heals v2 as well.
      const v3 = await trainer.publish(draft('c', 2));
      expect(v3.version).toBe(3);
      expect((await server.resolve('c', 2)).files['model.onnx']).toEqual(draft('c', 2).files['model.onnx']);
    });

    it('fetches files unhashed for the reader to check: verifyFiles refuses a changed byte, a size change fails at once', async () => {
      const { trainer, server } = registries();
      const v1 = await trainer.publish(draft('f', 1));
      const fetched = await server.fetch('f', 1);
      expect(fetched.artifact).toEqual(v1);
      const file = fetched.files['model.onnx']!;
      const manifest = v1.files.find((f) => f.path === 'model.onnx')!;
      expect({ path: file.path, size: file.size, sha256: file.sha256 }).toEqual({
        path: 'model.onnx',
        size: manifest.size,
        sha256: manifest.sha256,
      });
      expect(new Uint8Array(file.bytes)).toEqual(draft('f', 1).files['model.onnx']);
      expect((await verifyFiles(fetched)).files).toEqual((await server.resolve('f', 1)).files);

      const blobs = await pair.a.blobs(trainer.bucket);
      const corrupt = (await blobs.get(blobName(manifest.sha256)))!.slice();
      corrupt[7]! ^= 0xff;
      await blobs.put(blobName(manifest.sha256), corrupt);
      const tampered = await server.fetch('f', 1); // same size: only hashing finds it
      await expectRegistryError(
        verifyFiles(tampered),
        'HASH_MISMATCH',
        /f v1: file "model\.onnx" has sha256/,
      );
      await blobs.put(blobName(manifest.sha256), corrupt.subarray(1));
      await expectRegistryError(server.fetch('f', 1), 'HASH_MISMATCH', /has \d+ bytes, the manifest says/);
    });

    it('refuses a missing blob with MISSING_BLOB naming the file; other versions still resolve', async () => {
      const { trainer, server } = registries();
      await trainer.publish(draft('gone', 1));
      const v2 = await trainer.publish(draft('gone', 2));
      const labels = v2.files.find((f) => f.path === 'meta/labels.json')!;
      expect(await (await pair.a.blobs(trainer.bucket)).delete(blobName(labels.sha256))).toBe(true);
      await expectRegistryError(
        server.resolve('gone', 2),
        'MISSING_BLOB',
        /gone v2: blob sha256-[0-9a-f]{64} of file "meta\/labels\.json" is missing/,
      );
      expect((await server.resolve('gone', 1)).files['meta/labels.json']).toEqual(enc('["seed-1"]'));
    });

    it('gives every reader of a manifest its own copy, and reads other bytes under its key afresh', async () => {
      const { trainer, server, bucket } = registries();
      const v1 = await trainer.publish(draft('k', 1));
      const first = await server.manifest('k', 1);
      (first.metadata as Record<string, unknown>).note = 'changed by a reader';
      const second = await server.manifest('k', 1);
      expect(second).toEqual(v1);
      expect((await server.resolve('k', 1)).artifact).toEqual(v1);

      // The key rewritten (an operator's hand, a bad copy): what is stored now counts, not what was read.
      const kv = await pair.a.kv(bucket);
      await kv.put('manifest.k.1', enc(JSON.stringify({ ...v1, metadata: { note: 'rewritten' } })));
      expect((await server.manifest('k', 1)).metadata).toEqual({ note: 'rewritten' });
      await kv.put('manifest.k.1', enc('{"name": "k",'));
      await expectRegistryError(
        server.manifest('k', 1),
        'INVALID_MANIFEST',
        /k v1: manifest is not UTF-8 JSON/,
      );
    });

    it('refuses hostile manifests naming the field, skips them in watches, and keeps publishing', async () => {
      const { trainer, server, bucket } = registries();
      const v1 = await trainer.publish(draft('h', 1));
      const kv = await pair.a.kv(bucket);
      const errors: RegistryError[] = [];
      const watch = await server.watch('h', { onError: (e) => errors.push(e) });
      const seen = take(watch, 1);

      await kv.put('manifest.h.2', enc('{"name": "h", "version": 2,'));
      await kv.put('manifest.h.3', enc(JSON.stringify({ ...v1, version: 3, format: 'exe' })));
      await kv.put('manifest.h.4', enc(JSON.stringify({ ...v1, version: 5 })));
      await kv.put('manifest.h.5', new Uint8Array([0xff, 0xfe, 0x7b]));
      await kv.put('manifest.h.x', enc(JSON.stringify(v1)));
      const deep = `{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
      await kv.put(
        'manifest.h.6',
        enc(JSON.stringify({ ...v1, version: 6, metadata: {} }).replace('{}', deep)),
      );

      await expectRegistryError(
        server.resolve('h', 2),
        'INVALID_MANIFEST',
        /h v2: manifest is not UTF-8 JSON/,
      );
      await expectRegistryError(
        server.resolve('h', 3),
        'INVALID_MANIFEST',
        /h v3: invalid model artifact: format: /,
      );
      await expectRegistryError(
        server.resolve('h', 4),
        'INVALID_MANIFEST',
        /h v4: version: the manifest says 5/,
      );
      await expectRegistryError(server.resolve('h', 'latest'), 'INVALID_MANIFEST', /h v6: /);
      await expectRegistryError(server.resolve('h', 6), 'INVALID_MANIFEST', /h v6: /);
      expect(await server.list('h')).toEqual([1, 2, 3, 4, 5, 6]);
      expect((await server.resolve('h', 1)).artifact).toEqual(v1);

      const v7 = await trainer.publish(draft('h', 7));
      expect(v7.version).toBe(7);
      expect(await seen).toEqual([v7]);
      watch.stop();
      expect(errors.map((e) => e.code)).toEqual(Array(6).fill('INVALID_MANIFEST'));
      expect(errors.map((e) => e.message)).toEqual([
        expect.stringMatching(/h v2: manifest is not UTF-8 JSON/),
        expect.stringMatching(/h v3: .*format: /),
        expect.stringMatching(/h v4: version: /),
        expect.stringMatching(/h v5: manifest is not UTF-8 JSON/),
        expect.stringMatching(/key "manifest\.h\.x" does not name a version/),
        expect.stringMatching(/h v6: /),
      ]);

      // Starting from the latest passes over a broken newest version to the newest valid one.
      await kv.put('manifest.h.8', enc('null'));
      const fromLatestErrors: RegistryError[] = [];
      const fromLatest = await server.watch('h', {
        fromLatest: true,
        onError: (e) => fromLatestErrors.push(e),
      });
      expect(await take(fromLatest, 1)).toEqual([v7]);
      fromLatest.stop();
      expect(fromLatestErrors.map((e) => e.message)).toEqual([expect.stringMatching(/h v8: .*\(root\): /)]);
    });

    it('round-trips a 20 MiB file byte for byte', async () => {
      const { trainer, server } = registries();
      const big = new Uint8Array(randomBytes(20 * 1024 * 1024));
      const published = await trainer.publish({ name: 'big', format: 'onnx', files: { 'model.onnx': big } });
      expect(published.files[0]!.size).toBe(20 * 1024 * 1024);
      const { files } = await server.resolve('big', published.version);
      expect(files['model.onnx']!.byteLength).toBe(big.byteLength);
      expect(Buffer.compare(files['model.onnx']!, big)).toBe(0);
    });

    it('keeps working after every kind of failure', async () => {
      const { trainer, server } = registries();
      await expectRegistryError(server.resolve('later'), 'NOT_FOUND', /no versions/);
      await expectRegistryError(
        trainer.publish(draft('later', 1, { files: {} })),
        'INVALID_MANIFEST',
        /files/,
      );
      const v1: ModelArtifact = await trainer.publish(draft('later', 1));
      expect((await server.resolve('later')).artifact).toEqual(v1);
    });
  });
}

describeRegistry('the in-process transport', inProcessPair);
describeRegistry('a real nats-server', natsPair);

describe('ModelRegistry across regions of a NATS supercluster', () => {
  it('hot-loads a version published in one region into another over a shaped WAN link', async () => {
    const sc = await startSupercluster(['train', 'serve'], {
      jetstream: true,
      wan: [{ between: ['train', 'serve'], bandwidthMbps: 200, latencyMs: 10 }],
    });
    const a = await NatsTransport.connect({ servers: sc.urls('train'), region: 'train', reconnect: false });
    const b = await NatsTransport.connect({ servers: sc.urls('serve'), region: 'serve', reconnect: false });
    try {
      // The trainer opens the registry first, so its buckets live in the training region.
      const trainer = new ModelRegistry(a);
      const v1 = await trainer.publish(draft('geo', 1));
      const server = new ModelRegistry(b);
      const watch = await server.watch('geo', { fromLatest: true });
      const seen = take(watch, 2, 30_000);
      const model = new Uint8Array(randomBytes(3 * 1024 * 1024));
      const v2 = await trainer.publish(draft('geo', 2, { files: { 'model.onnx': model } }));
      expect((await seen).map((m) => m.version)).toEqual([v1.version, v2.version]);
      const { files } = await server.resolve('geo', v2.version);
      expect(Buffer.compare(files['model.onnx']!, model)).toBe(0);
      watch.stop();
    } finally {
      await Promise.all([a.close(), b.close()]);
      await sc.close();
    }
  });
});

describe('ModelRegistry options', () => {
  it('refuses a bad bucket name, naming the field', () => {
    expect(() => new ModelRegistry({} as Transport, { bucket: 'a.b' })).toThrow(/bucket: /);
  });
});
