import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parseConfig } from './config.js';
import { ArtifactError, ConfigError } from './errors.js';
import { BYTES_PER_ELEMENT, type DType } from './tensor.js';

/**
 * A model artifact: the manifest that names one trained model version and every file it consists of.
 * Training publishes it, serving resolves and watches it (through the transport's `ModelRegistry`);
 * this file holds its schema and the checks that make a tampered or incomplete artifact fail loudly.
 */

/** Formats a serving container knows how to load. */
export const ARTIFACT_FORMATS = ['onnx', 'tfjs-layers', 'tensors'] as const;
export type ArtifactFormat = (typeof ARTIFACT_FORMATS)[number];

/**
 * Artifact names become tokens of kv keys and NATS subjects, so they exclude `.`, `*`, `>`, `/` and
 * whitespace: 1–64 letters, digits, `-` or `_`, starting with a letter or digit (e.g. `mnist-mlp`).
 */
export const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

// One path segment; the same charset works as a file name on every OS and in every blob store.
const PATH_SEGMENT = /^[A-Za-z0-9_.-]+$/;
const MAX_PATH = 512;

function pathProblem(path: string): string | undefined {
  if (path.length === 0) return 'a file path must not be empty';
  if (path.length > MAX_PATH) return `file path is longer than ${MAX_PATH} characters`;
  if (path.startsWith('/')) return `file path "${path}" must be relative`;
  for (const segment of path.split('/')) {
    if (segment === '..') return `file path "${path}" must not contain ".."`;
    if (segment === '' || segment === '.') return `file path "${path}" has an empty or "." segment`;
    if (!PATH_SEGMENT.test(segment))
      return `file path "${path}" may only use letters, digits, '_', '.', '-' and '/'`;
  }
  return undefined;
}

const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256)');

export const artifactFileSchema = z.object({
  /** Relative POSIX path inside the artifact, e.g. `model.onnx` or `weights/group1-shard1of1.bin`. */
  path: z.string().superRefine((path, ctx) => {
    const problem = pathProblem(path);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  size: z.number().int().nonnegative(),
  sha256: sha256HexSchema,
});
export type ArtifactFile = z.infer<typeof artifactFileSchema>;

const dtypes = Object.keys(BYTES_PER_ELEMENT) as [DType, ...DType[]];

/** One named input or output of a model; `null` marks a dimension of any size (the batch, usually). */
export const tensorSpecSchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(dtypes),
  shape: z.array(z.number().int().nonnegative().nullable()),
});
export type TensorSpec = z.infer<typeof tensorSpecSchema>;

/**
 * Free-form JSON, with a few keys every component reads the same way: the model's quality on held-out
 * data (core `Quality`), its input/output signature, and where it came from (training run info).
 */
export const artifactMetadataSchema = z
  .object({
    quality: z
      .object({ metric: z.string().min(1), value: z.number(), higherIsBetter: z.boolean() })
      .optional(),
    inputs: z.array(tensorSpecSchema).optional(),
    outputs: z.array(tensorSpecSchema).optional(),
    training: z.record(z.string(), z.json()).optional(),
  })
  .catchall(z.json());
export type ArtifactMetadata = z.infer<typeof artifactMetadataSchema>;

const manifestFields = z.object({
  name: z
    .string()
    .regex(ARTIFACT_NAME, "expected 1-64 letters, digits, '-' or '_', starting with a letter or digit"),
  version: z.number().int().positive(),
  format: z.enum(ARTIFACT_FORMATS),
  files: z.array(artifactFileSchema).min(1, 'an artifact needs at least one file'),
  metadata: artifactMetadataSchema.default({}),
  createdAt: z.iso.datetime({ offset: true }),
  sha256: sha256HexSchema,
});

/** The file that names each format, so a manifest of the wrong format is refused before anyone loads it. */
const ENTRY_RULE: Record<ArtifactFormat, { test: (path: string) => boolean; needs: string }> = {
  onnx: { test: (p) => p.endsWith('.onnx'), needs: 'a file ending in .onnx' },
  'tfjs-layers': { test: (p) => p === 'model.json' || p.endsWith('/model.json'), needs: 'a model.json file' },
  tensors: { test: (p) => p.endsWith('.tensors'), needs: 'a file ending in .tensors (a codec TensorMap)' },
};

// Cross-field rules shared by drafts and published manifests.
function checkManifest(
  m: { format: ArtifactFormat; files: ArtifactFile[]; sha256: string },
  ctx: z.RefinementCtx,
): void {
  const seen = new Set<string>();
  m.files.forEach((file, i) => {
    if (seen.has(file.path))
      ctx.addIssue({
        code: 'custom',
        path: ['files', i, 'path'],
        message: `duplicate file path "${file.path}"`,
      });
    seen.add(file.path);
  });
  const rule = ENTRY_RULE[m.format];
  if (!m.files.some((f) => rule.test(f.path)))
    ctx.addIssue({ code: 'custom', path: ['files'], message: `a ${m.format} artifact needs ${rule.needs}` });
  const digest = artifactDigest(m.files);
  if (m.sha256 !== digest)
    ctx.addIssue({
      code: 'custom',
      path: ['sha256'],
      message: `does not match the listed files (they hash to ${digest})`,
    });
}

/** A published artifact: the registry has assigned its `version`. */
export const modelArtifactSchema = manifestFields.superRefine(checkManifest);
export type ModelArtifact = z.infer<typeof modelArtifactSchema>;

/** An artifact before publication: everything but the version, which only the registry assigns. */
export const artifactDraftSchema = manifestFields.omit({ version: true }).superRefine(checkManifest);
export type ArtifactDraft = z.infer<typeof artifactDraftSchema>;

/** Hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The one hash that names a whole artifact: sha256 over `"<file sha256>  <path>\n"` lines (the
 * `sha256sum` format) sorted by path, so it depends on the files' contents and names only — not on
 * the order they are listed in, the version, the metadata or the publication time.
 */
export function artifactDigest(files: readonly Pick<ArtifactFile, 'path' | 'sha256'>[]): string {
  const hash = createHash('sha256');
  for (const f of [...files].sort(byPath)) hash.update(`${f.sha256}  ${f.path}\n`);
  return hash.digest('hex');
}

// Code-unit order, not locale order: the digest must be the same on every machine.
const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Deeper JSON than this is refused before validation: a recursive schema would overflow the stack. */
const MAX_MANIFEST_DEPTH = 64;

// Iterative, so a hostile manifest cannot overflow the stack here either.
function deeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

function parseManifest<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  if (deeperThan(input, MAX_MANIFEST_DEPTH))
    throw new ArtifactError(
      'INVALID_MANIFEST',
      `invalid ${what}: nested deeper than ${MAX_MANIFEST_DEPTH} levels`,
    );
  try {
    return parseConfig(schema, input, what);
  } catch (e) {
    if (e instanceof ConfigError) throw new ArtifactError('INVALID_MANIFEST', e.message, { cause: e });
    throw e;
  }
}

/** Validates a published manifest (e.g. JSON read off the wire); `ArtifactError` `INVALID_MANIFEST` names the bad field. */
export function parseArtifact(input: unknown): ModelArtifact {
  return parseManifest(modelArtifactSchema, input, 'model artifact');
}

/** Validates a draft manifest (no version); `ArtifactError` `INVALID_MANIFEST` names the bad field. */
export function parseArtifactDraft(input: unknown): ArtifactDraft {
  return parseManifest(artifactDraftSchema, input, 'model artifact draft');
}

/** What a trainer hands over: the files' bytes by relative path, plus metadata. */
export interface ArtifactInput {
  name: string;
  format: ArtifactFormat;
  files: Record<string, Uint8Array>;
  metadata?: ArtifactMetadata;
  /** ISO timestamp; default now. Pass one for reproducible manifests. */
  createdAt?: string;
}

/**
 * Builds the draft manifest of in-memory files: sizes, per-file sha256 and the artifact's sha256.
 * Throws `ArtifactError` `INVALID_MANIFEST` naming the field for a bad name, path, format or metadata.
 */
export function createArtifact(input: ArtifactInput): ArtifactDraft {
  const entries = Object.entries(input?.files ?? {});
  for (const [path, bytes] of entries) {
    if (!(bytes instanceof Uint8Array))
      throw new ArtifactError(
        'INVALID_MANIFEST',
        `invalid model artifact draft: files.${path}: expected Uint8Array`,
      );
  }
  const files = entries
    .map(([path, bytes]) => ({ path, size: bytes.byteLength, sha256: sha256Hex(bytes) }))
    .sort(byPath);
  return parseArtifactDraft({
    name: input?.name,
    format: input?.format,
    files,
    metadata: input?.metadata ?? {},
    createdAt: input?.createdAt ?? new Date().toISOString(),
    sha256: artifactDigest(files),
  });
}

/**
 * Checks that `files` holds every file of the manifest with the listed size and sha256; returns the
 * validated manifest. Files not listed in the manifest are ignored. Throws `ArtifactError`:
 * `INVALID_MANIFEST` (the manifest itself is malformed), `MISSING_FILE` or `HASH_MISMATCH` (naming the path).
 */
export function verifyArtifact<A extends ArtifactDraft | ModelArtifact>(
  artifact: A,
  files: Readonly<Record<string, Uint8Array>>,
): A {
  const manifest = (
    artifact !== null && typeof artifact === 'object' && 'version' in artifact
      ? parseArtifact(artifact)
      : parseArtifactDraft(artifact)
  ) as A;
  for (const file of manifest.files) {
    const bytes = Object.hasOwn(files, file.path) ? files[file.path] : undefined;
    if (!(bytes instanceof Uint8Array))
      throw new ArtifactError('MISSING_FILE', `${labelOf(manifest)}: file "${file.path}" is missing`);
    if (bytes.byteLength !== file.size)
      throw new ArtifactError(
        'HASH_MISMATCH',
        `${labelOf(manifest)}: file "${file.path}" has ${bytes.byteLength} bytes, the manifest says ${file.size}`,
      );
    const actual = sha256Hex(bytes);
    if (actual !== file.sha256)
      throw new ArtifactError(
        'HASH_MISMATCH',
        `${labelOf(manifest)}: file "${file.path}" has sha256 ${actual}, the manifest says ${file.sha256}`,
      );
  }
  return manifest;
}

/** `mnist-mlp v3` or `mnist-mlp (draft)`, for messages. */
export function labelOf(artifact: { name: string; version?: number }): string {
  return artifact.version === undefined
    ? `${artifact.name} (draft)`
    : `${artifact.name} v${artifact.version}`;
}
