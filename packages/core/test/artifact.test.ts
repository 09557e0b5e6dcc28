import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ArtifactError,
  artifactDigest,
  CodecError,
  createArtifact,
  encodeTensorMap,
  type ModelArtifact,
  modelArtifactSchema,
  parseArtifact,
  readTensorsArtifact,
  TENSORS_FILE,
  type Tensor,
  type TensorMap,
  tensor,
  tensorsArtifactFiles,
  verifyArtifact,
} from '../src/index.js';

const bytes = (...values: number[]) => new Uint8Array(values);
const hex = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

function files() {
  return {
    'model.onnx': bytes(8, 1, 18, 4, 0, 0, 0, 0),
    'labels/classes.json': new TextEncoder().encode('["0","1"]'),
  };
}

function draft() {
  return createArtifact({
    name: 'mnist-mlp',
    format: 'onnx',
    files: files(),
    metadata: {
      quality: { metric: 'accuracy', value: 0.97, higherIsBetter: true },
      inputs: [{ name: 'x', dtype: 'float32', shape: [null, 784] }],
      training: { run: 'r1', regions: 3 },
    },
    createdAt: '2026-11-25T01:00:00.000Z',
  });
}

function expectArtifactError(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn();
    expect.unreachable('expected an ArtifactError');
  } catch (e) {
    expect(e).toBeInstanceOf(ArtifactError);
    expect((e as ArtifactError).code).toBe(code);
    expect((e as Error).message).toMatch(message);
  }
}

describe('createArtifact', () => {
  it('lists every file with its size and sha256, sorted by path', () => {
    const d = draft();
    expect(d.files).toEqual([
      { path: 'labels/classes.json', size: 9, sha256: hex('["0","1"]') },
      { path: 'model.onnx', size: 8, sha256: hex(files()['model.onnx']) },
    ]);
    expect(d.name).toBe('mnist-mlp');
    expect(d.format).toBe('onnx');
    expect('version' in d).toBe(false);
    expect(d.metadata.quality?.value).toBe(0.97);
  });

  it('names the whole artifact by one hash of its files sorted by path', () => {
    const d = draft();
    const expected = hex(
      `${hex('["0","1"]')}  labels/classes.json\n${hex(files()['model.onnx'])}  model.onnx\n`,
    );
    expect(d.sha256).toBe(expected);
    expect(artifactDigest([...d.files].reverse())).toBe(expected);
    // Content, not metadata or time, decides the hash.
    const other = createArtifact({ name: 'other', format: 'onnx', files: files() });
    expect(other.sha256).toBe(d.sha256);
    const changed = createArtifact({
      name: 'mnist-mlp',
      format: 'onnx',
      files: { ...files(), 'x.bin': bytes(1) },
    });
    expect(changed.sha256).not.toBe(d.sha256);
  });

  it('defaults createdAt to now and metadata to empty', () => {
    const d = createArtifact({ name: 'm', format: 'tensors', files: { 'params.tensors': bytes(1, 2) } });
    expect(Math.abs(Date.parse(d.createdAt) - Date.now())).toBeLessThan(60_000);
    expect(d.metadata).toEqual({});
  });

  it('refuses names that are not kv/subject-safe tokens', () => {
    for (const name of ['', 'mnist.mlp', 'a b', 'a*', 'a>', 'a/b', '-lead', 'x'.repeat(65)]) {
      expectArtifactError(
        () => createArtifact({ name, format: 'onnx', files: files() }),
        'INVALID_MANIFEST',
        /^invalid model artifact draft: name: /,
      );
    }
  });

  it('refuses path traversal, absolute and odd paths, naming the path', () => {
    for (const path of ['../etc/passwd', 'a/../../b', '/abs.onnx', 'a//b', './a', 'a\\b', 'sp ace']) {
      expectArtifactError(
        () =>
          createArtifact({ name: 'm', format: 'onnx', files: { 'model.onnx': bytes(1), [path]: bytes(2) } }),
        'INVALID_MANIFEST',
        /files\.\d\.path: /,
      );
    }
    expectArtifactError(
      () =>
        createArtifact({ name: 'm', format: 'onnx', files: { 'model.onnx': bytes(1), '../x': bytes(2) } }),
      'INVALID_MANIFEST',
      /"\.\.\/x" must not contain "\.\."/,
    );
  });

  it('refuses an unknown format and a format whose entry file is absent', () => {
    expectArtifactError(
      () => createArtifact({ name: 'm', format: 'pytorch' as never, files: files() }),
      'INVALID_MANIFEST',
      /format: /,
    );
    expectArtifactError(
      () => createArtifact({ name: 'm', format: 'tfjs-layers', files: files() }),
      'INVALID_MANIFEST',
      /files: a tfjs-layers artifact needs a model\.json file/,
    );
    expectArtifactError(
      () => createArtifact({ name: 'm', format: 'tensors', files: files() }),
      'INVALID_MANIFEST',
      /files: a tensors artifact needs a file ending in \.tensors/,
    );
  });

  it('refuses no files, non-byte contents and non-JSON metadata', () => {
    expectArtifactError(
      () => createArtifact({ name: 'm', format: 'onnx', files: {} }),
      'INVALID_MANIFEST',
      /files: an artifact needs at least one file/,
    );
    expectArtifactError(
      () => createArtifact({ name: 'm', format: 'onnx', files: { 'model.onnx': [1, 2] as never } }),
      'INVALID_MANIFEST',
      /files\.model\.onnx: expected Uint8Array/,
    );
    expectArtifactError(
      () =>
        createArtifact({ name: 'm', format: 'onnx', files: files(), metadata: { at: new Date() as never } }),
      'INVALID_MANIFEST',
      /metadata\.at: /,
    );
    expectArtifactError(
      () =>
        createArtifact({
          name: 'm',
          format: 'onnx',
          files: files(),
          metadata: { quality: { metric: 'acc', value: 'high', higherIsBetter: true } as never },
        }),
      'INVALID_MANIFEST',
      /metadata\.quality\.value: /,
    );
  });
});

describe('verifyArtifact', () => {
  it('accepts the files it was built from', () => {
    const d = draft();
    expect(verifyArtifact(d, files())).toEqual(d);
    const published: ModelArtifact = { ...d, version: 3 };
    expect(verifyArtifact(published, { ...files(), 'extra.txt': bytes(1) }).version).toBe(3);
  });

  it('refuses one tampered byte, naming the file', () => {
    const tampered = files();
    tampered['model.onnx'][5]! ^= 1;
    expectArtifactError(
      () => verifyArtifact(draft(), tampered),
      'HASH_MISMATCH',
      /mnist-mlp \(draft\): file "model\.onnx" has sha256 [0-9a-f]{64}, the manifest says/,
    );
  });

  it('refuses a truncated file and a missing file', () => {
    const f = files();
    expectArtifactError(
      () => verifyArtifact({ ...draft(), version: 2 }, { ...f, 'model.onnx': f['model.onnx'].subarray(1) }),
      'HASH_MISMATCH',
      /mnist-mlp v2: file "model\.onnx" has 7 bytes, the manifest says 8/,
    );
    expectArtifactError(
      () => verifyArtifact(draft(), { 'model.onnx': f['model.onnx'] }),
      'MISSING_FILE',
      /file "labels\/classes\.json" is missing/,
    );
  });

  it('refuses a manifest whose files do not add up to its sha256', () => {
    const d = draft();
    expectArtifactError(
      () => verifyArtifact({ ...d, files: d.files.slice(1) }, files()),
      'INVALID_MANIFEST',
      /sha256: does not match the listed files/,
    );
  });
});

describe('parseArtifact', () => {
  const good = () => ({ ...draft(), version: 1 });

  it('round-trips through JSON', () => {
    const a = good();
    expect(parseArtifact(JSON.parse(JSON.stringify(a)))).toEqual(a);
    expect(modelArtifactSchema.safeParse(a).success).toBe(true);
  });

  it('names the bad field of a hostile manifest', () => {
    const cases: [unknown, RegExp][] = [
      [null, /\(root\): /],
      [{ ...good(), version: 0 }, /version: /],
      [{ ...good(), version: '1' }, /version: /],
      [{ ...good(), format: 'exe' }, /format: /],
      [{ ...good(), createdAt: 'yesterday' }, /createdAt: /],
      [{ ...good(), files: [{ path: '../../x.onnx', size: 1, sha256: hex('x') }] }, /files\.0\.path: /],
      [{ ...good(), files: [{ path: 'model.onnx', size: -1, sha256: hex('x') }] }, /files\.0\.size: /],
      [{ ...good(), files: [{ path: 'model.onnx', size: 1, sha256: 'abc' }] }, /files\.0\.sha256: /],
      [{ ...good(), files: [good().files[1], good().files[1]] }, /files\.1\.path: duplicate file path/],
      [{ ...good(), sha256: hex('other') }, /sha256: does not match/],
    ];
    for (const [input, message] of cases) {
      expectArtifactError(() => parseArtifact(input), 'INVALID_MANIFEST', message);
    }
  });

  it('refuses deeply nested metadata with a typed error instead of overflowing the stack', () => {
    const depth = 100_000;
    const metadata = JSON.parse(`{"x":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    expectArtifactError(
      () => parseArtifact({ ...good(), metadata }),
      'INVALID_MANIFEST',
      /nested deeper than 64 levels/,
    );
    expectArtifactError(
      () => createArtifact({ name: 'm', format: 'onnx', files: files(), metadata }),
      'INVALID_MANIFEST',
      /invalid model artifact draft: nested deeper than 64 levels/,
    );
    const fine = JSON.parse(`{"x":${'['.repeat(50)}1${']'.repeat(50)}}`);
    expect(parseArtifact({ ...good(), metadata: fine }).metadata).toEqual(fine);
  });
});

describe('tensors artifacts', () => {
  const params = (): TensorMap =>
    new Map<string, Tensor>([
      ['w', tensor('float32', [2, 3], new Float32Array([1, -2, 3.5, 0, 1e-3, 7]))],
      ['step', tensor('int64', [], new BigInt64Array([42n]))],
    ]);

  it('round-trips parameters through a verified artifact', () => {
    const files = tensorsArtifactFiles(params());
    expect(Object.keys(files)).toEqual([TENSORS_FILE]);
    const d = createArtifact({ name: 'mf', format: 'tensors', files });
    verifyArtifact(d, files);
    const read = readTensorsArtifact(d, files);
    expect([...read.keys()]).toEqual(['w', 'step']);
    expect(read.get('w')!.shape).toEqual([2, 3]);
    expect(Array.from(read.get('w')!.data as Float32Array)).toEqual(
      Array.from(params().get('w')!.data as Float32Array),
    );
    expect(read.get('step')!.data).toEqual(new BigInt64Array([42n]));
  });

  it('stores fp16 at half the size of raw floats', () => {
    const big: TensorMap = new Map([['w', tensor('float32', [1024], new Float32Array(1024).fill(0.5))]]);
    const raw = tensorsArtifactFiles(big)[TENSORS_FILE]!;
    const half = tensorsArtifactFiles(big, { encoding: 'fp16' })[TENSORS_FILE]!;
    expect(half.byteLength).toBeLessThan(raw.byteLength * 0.6);
    const d = createArtifact({ name: 'mf', format: 'tensors', files: { [TENSORS_FILE]: half } });
    expect((readTensorsArtifact(d, { [TENSORS_FILE]: half }).get('w')!.data as Float32Array)[7]).toBe(0.5);
  });

  it('refuses another format, a missing file, sparse tensors and corrupt bytes', () => {
    const files = tensorsArtifactFiles(params());
    const d = createArtifact({ name: 'mf', format: 'tensors', files });
    expectArtifactError(
      () => readTensorsArtifact(draft(), files),
      'INVALID_MANIFEST',
      /format is onnx, not tensors/,
    );
    expectArtifactError(() => readTensorsArtifact(d, {}), 'MISSING_FILE', /"params\.tensors" is missing/);
    const sparse = encodeTensorMap(
      new Map([
        ['u', { dtype: 'float32', shape: [4], indices: new Uint32Array([1]), values: new Float32Array([2]) }],
      ]),
    );
    const s = createArtifact({ name: 'mf', format: 'tensors', files: { [TENSORS_FILE]: sparse } });
    expectArtifactError(
      () => readTensorsArtifact(s, { [TENSORS_FILE]: sparse }),
      'INVALID_MANIFEST',
      /holds sparse tensor "u"/,
    );
    const bad = files[TENSORS_FILE]!.slice(0, 10);
    expect(() => readTensorsArtifact(d, { [TENSORS_FILE]: bad })).toThrow(CodecError);
  });
});
