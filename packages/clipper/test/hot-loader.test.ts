import { readdirSync } from 'node:fs';
import { ConfigError, loadTf, type Tensor, tensor } from '@geoml/core';
import { ModelRegistry, NatsTransport, startNatsServer } from '@geoml/transport';
import { afterEach, describe, expect, it } from 'vitest';
import type { ArtifactFiles } from '../src/artifact-loader.js';
import { HotLoadError } from '../src/hot-load-events.js';
import { OnnxPredictor } from '../src/onnx-predictor.js';
import { closeSpareWorkers, spareWorkers } from '../src/onnx-worker-pool.js';
import {
  answeredBy,
  cleanups,
  closedLoop,
  MODEL,
  nextEvent,
  publishOnnx,
  query,
  registerApp,
  runCleanups,
  setup,
  V1,
  V2,
  V3,
} from './hot-load-fixtures.js';

afterEach(runCleanups);

const threads = () => readdirSync('/proc/self/task').length;

describe('HotLoader over the in-process registry', () => {
  it('swaps v2 in under a closed-loop load without a failed query, and disposes v1', async () => {
    const { registry, clipper, loader, events } = setup();
    await publishOnnx(registry, V1.bytes);
    const status = await loader.watch(MODEL, { replicas: 2, warmUpBatchSizes: [1, 8] });
    expect(status.servingVersion).toBe('1');
    registerApp(clipper);
    expect(clipper.getModel(MODEL).versions[0]!.metadata.signature).toEqual({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [784] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [10] }],
    });
    await closedLoop(clipper, 2, () => false, 300); // steady state before counting threads
    await closeSpareWorkers();
    const baseline = threads();

    let disposed = false;
    const swapped = nextEvent(loader, (e) => e.type === 'disposed').then(() => {
      disposed = true;
    });
    const load = closedLoop(clipper, 4, () => disposed);
    await new Promise((r) => setTimeout(r, 200));
    await publishOnnx(registry, V2.bytes);
    await swapped;
    const stats = await load;

    expect(stats.defaults).toBe(0);
    expect(stats.wrong).toBe(0);
    expect(stats.byVersion.get('1')).toBeGreaterThan(0);
    expect(stats.byVersion.get('2')).toBeGreaterThan(0);
    expect(events.map((e) => e.type)).toEqual([
      'loading',
      'loaded',
      'swapped',
      'loading',
      'loaded',
      'swapped',
      'disposed',
    ]);
    expect(clipper.getModel(MODEL).versions.map((v) => v.version)).toEqual(['2']);
    // v1's two worker threads are gone but one, kept (session released) as the process's spare for the
    // next version; without it, the process holds no more threads than with v1 alone.
    expect(spareWorkers()).toBe(1);
    await closeSpareWorkers();
    expect(threads()).toBeLessThanOrEqual(baseline);
    const after = await clipper.predict('app', query(7));
    expect(answeredBy(after.output, 7)).toBe(2);
  });

  it('refuses an ONNX file that does not parse; v1 keeps serving', async () => {
    const { registry, clipper, loader } = setup();
    await publishOnnx(registry, V1.bytes);
    await loader.watch(MODEL);
    registerApp(clipper);
    const failed = nextEvent(loader, (e) => e.type === 'failed');
    await publishOnnx(registry, new TextEncoder().encode('this is not an onnx model'));
    const event = await failed;
    expect(event).toMatchObject({ type: 'failed', version: '2', stage: 'load' });
    expect((event as { error: Error }).error.message).toMatch(/digits v2/);
    const info = clipper.getModel(MODEL);
    expect(info.servingVersion).toBe('1');
    expect(info.versions.map((v) => v.version)).toEqual(['1']);
    const r = await clipper.predict('app', query(3));
    expect(r.default).toBe(false);
    expect(answeredBy(r.output, 3)).toBe(1);
    // A later good version still goes through.
    const swapped = nextEvent(loader, (e) => e.type === 'swapped');
    await publishOnnx(registry, V3.bytes);
    expect(await swapped).toMatchObject({ from: '1', to: '3' });
  });

  it('refuses an artifact whose stored bytes no longer match its sha256; v1 keeps serving', async () => {
    const { transport, registry, clipper, loader, events } = setup();
    await publishOnnx(registry, V1.bytes);
    await loader.watch(MODEL);
    registerApp(clipper);
    await loader.unwatch(MODEL);
    const v2 = await publishOnnx(registry, V2.bytes);
    // Tamper with v2's blob in the store (bit rot, a bad copy): same name, other bytes.
    const blobs = await transport.blobs(registry.bucket);
    const tampered = new Uint8Array(V2.bytes);
    tampered[tampered.length - 1]! ^= 0xff;
    await blobs.put(`sha256-${v2.files[0]!.sha256}`, tampered);

    const status = await loader.watch(MODEL); // adopts v1, finds v2 newer, refuses it
    expect(status.servingVersion).toBe('1');
    const failed = events.find((e) => e.type === 'failed');
    expect(failed).toMatchObject({ version: '2', stage: 'resolve' });
    expect((failed as { error: Error & { code?: string } }).error.code).toBe('HASH_MISMATCH');
    const r = await clipper.predict('app', query(4));
    expect(answeredBy(r.output, 4)).toBe(1);
    await expect(loader.load(MODEL, 2)).rejects.toMatchObject({ code: 'INSTALL_FAILED' });
    expect(clipper.getModel(MODEL).servingVersion).toBe('1');
  });

  it('hands a custom loader checked private copies of the files, and refuses a changed byte before calling it', async () => {
    const { transport, registry, clipper, loader, events } = setup();
    const seen: { version: number; shared: boolean }[] = [];
    const loaders = {
      onnx: async ({ artifact, files }: ArtifactFiles) => {
        const bytes = files['model.onnx']!;
        seen.push({ version: artifact.version, shared: bytes.buffer instanceof SharedArrayBuffer });
        return OnnxPredictor.create(bytes);
      },
    };
    await publishOnnx(registry, V1.bytes);
    await loader.watch(MODEL, { loader: { loaders } });
    registerApp(clipper);
    await loader.unwatch(MODEL);
    const v2 = await publishOnnx(registry, V2.bytes);
    const blobs = await transport.blobs(registry.bucket);
    const tampered = new Uint8Array(V2.bytes);
    tampered[10]! ^= 0xff;
    await blobs.put(`sha256-${v2.files[0]!.sha256}`, tampered);

    expect((await loader.watch(MODEL, { loader: { loaders } })).servingVersion).toBe('1');
    const failed = events.find((e) => e.type === 'failed');
    expect(failed).toMatchObject({ version: '2', stage: 'resolve' });
    expect((failed as { error: Error & { code?: string } }).error).toMatchObject({ code: 'HASH_MISMATCH' });
    expect(seen).toEqual([{ version: 1, shared: false }]);
    expect(answeredBy((await clipper.predict('app', query(5))).output, 5)).toBe(1);
  });

  it('refuses a version its canary acceptance test rejects, and undeploys it', async () => {
    const { registry, clipper, loader } = setup();
    await publishOnnx(registry, V1.bytes);
    await loader.watch(MODEL, {
      canaryQueries: 4,
      canaryInputs: [query(11), query(12)],
      accept: ({ version, outputs }) => {
        if (version !== '1' && outputs.length === 4) throw new Error('accuracy below the serving version');
      },
    });
    const failed = nextEvent(loader, (e) => e.type === 'failed');
    await publishOnnx(registry, V2.bytes);
    expect(await failed).toMatchObject({ version: '2', stage: 'canary' });
    await loader.settled(MODEL);
    const info = clipper.getModel(MODEL);
    expect(info.servingVersion).toBe('1');
    expect(info.versions.map((v) => v.version)).toEqual(['1']);
  });

  it('rolls back to the previous version, reloading it from the registry once disposed', async () => {
    const { registry, clipper, loader, events } = setup();
    await publishOnnx(registry, V1.bytes);
    await loader.watch(MODEL);
    registerApp(clipper);
    await expect(loader.rollback(MODEL)).rejects.toMatchObject({ code: 'NO_PREVIOUS' });
    const disposed = nextEvent(loader, (e) => e.type === 'disposed');
    await publishOnnx(registry, V2.bytes);
    await disposed;
    expect(clipper.getModel(MODEL).versions.map((v) => v.version)).toEqual(['2']);

    events.length = 0;
    const status = await loader.rollback(MODEL);
    expect(status.servingVersion).toBe('1');
    expect(events.map((e) => e.type)).toEqual(['loading', 'loaded', 'rolled-back', 'disposed']);
    expect(events[2]).toMatchObject({ from: '2', to: '1' });
    const r = await clipper.predict('app', query(5));
    expect(answeredBy(r.output, 5)).toBe(1);
    // And forward again by hand.
    await loader.load(MODEL, 2);
    expect(clipper.getModel(MODEL).servingVersion).toBe('2');
  });

  it('with keepVersions 2, rolls back at once to the still-loaded version', async () => {
    const { registry, clipper, loader, events } = setup();
    await publishOnnx(registry, V1.bytes);
    await loader.watch(MODEL, { keepVersions: 2 });
    const swapped = nextEvent(loader, (e) => e.type === 'swapped' && e.to === '2');
    await publishOnnx(registry, V2.bytes);
    await swapped;
    await loader.settled(MODEL);
    expect(
      clipper
        .getModel(MODEL)
        .versions.map((v) => v.version)
        .sort(),
    ).toEqual(['1', '2']);
    events.length = 0;
    await loader.rollback(MODEL);
    expect(events.map((e) => e.type)).toEqual(['rolled-back']);
    expect(clipper.getModel(MODEL).servingVersion).toBe('1');
  });

  it('refuses bad options and calls on models it does not watch', async () => {
    const { loader } = setup();
    await expect(loader.watch(MODEL, { keepVersions: 0 })).rejects.toBeInstanceOf(ConfigError);
    await expect(loader.rollback('nope')).rejects.toBeInstanceOf(HotLoadError);
    await loader.stop();
    await expect(loader.watch(MODEL)).rejects.toMatchObject({ code: 'STOPPED' });
  });

  it('hot-loads tfjs-layers artifacts and frees the old model’s tensors', async () => {
    const { tf } = await loadTf();
    const layersFiles = async (weight: number) => {
      const model = tf.sequential({
        layers: [
          tf.layers.dense({
            units: 3,
            inputShape: [4],
            kernelInitializer: tf.initializers.constant({ value: weight }),
          }),
        ],
      });
      let files: Record<string, Uint8Array> = {};
      await model.save(
        tf.io.withSaveHandler(async (a) => {
          const json = {
            modelTopology: a.modelTopology,
            format: 'layers-model',
            weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
          };
          files = {
            'model.json': new TextEncoder().encode(JSON.stringify(json)),
            'weights.bin': new Uint8Array(a.weightData as ArrayBuffer),
          };
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      );
      model.dispose();
      return files;
    };
    const { registry, clipper, loader } = setup();
    await registry.publish({ name: 'tiny', format: 'tfjs-layers', files: await layersFiles(1) });
    await loader.watch('tiny', { deploy: { cache: false } });
    const ones = { input: tensor('float32', [4], new Float32Array([1, 1, 1, 1])) };
    const before = await clipper.predictModel<Record<string, Tensor>>('tiny', ones);
    expect([...before.output!.output!.data]).toEqual([4, 4, 4]);
    expect(clipper.getModel('tiny').versions[0]!.metadata.signature).toEqual({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [4] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [3] }],
    });
    const tensorsWithOne = tf.memory().numTensors;

    const disposed = nextEvent(loader, (e) => e.type === 'disposed');
    await registry.publish({ name: 'tiny', format: 'tfjs-layers', files: await layersFiles(2) });
    await disposed;
    const after = await clipper.predictModel<Record<string, Tensor>>('tiny', ones);
    expect(after.version).toBe('2');
    expect([...after.output!.output!.data]).toEqual([8, 8, 8]);
    expect(tf.memory().numTensors).toBe(tensorsWithOne);
  });
});

describe('HotLoader over NATS (JetStream kv + object store)', () => {
  it('serves v1, then swaps in v2 published by another connection', async () => {
    const server = await startNatsServer({ jetstream: true });
    cleanups.push(() => server.close());
    const serving = await NatsTransport.connect({ servers: server.url, region: 'serve' });
    const training = await NatsTransport.connect({ servers: server.url, region: 'train' });
    cleanups.push(() => training.close());
    const { clipper, loader } = setup(serving);
    const trainer = new ModelRegistry(training);
    await publishOnnx(trainer, V1.bytes);
    expect((await loader.watch(MODEL)).servingVersion).toBe('1');
    registerApp(clipper);
    const swapped = nextEvent(loader, (e) => e.type === 'swapped');
    await publishOnnx(trainer, V2.bytes);
    expect(await swapped).toMatchObject({ from: '1', to: '2' });
    const r = await clipper.predict('app', query(9));
    expect(r.version).toBe('2');
    expect(answeredBy(r.output, 9)).toBe(2);
  });
});
