import { type ArtifactDraft, labelOf } from './artifact.js';
import { decodeTensorMap, type EncodeOptions, encodeTensorMap } from './codec.js';
import { ArtifactError } from './errors.js';
import { isSparse, type TensorMap } from './tensor.js';

/**
 * The `tensors` artifact format: a model's parameters as one codec-encoded TensorMap file, for models
 * that are no more than their parameters (gaia's workloads). The manifest rules live in artifact.ts.
 */

/** Path of the parameters file of a `tensors` artifact built by `tensorsArtifactFiles`. */
export const TENSORS_FILE = 'params.tensors';

/**
 * The files of a `tensors` artifact: `params` encoded by the core codec as `params.tensors`. Raw by
 * default; `encoding: 'fp16' | 'int8'` trades precision for size (floats decode as float32).
 */
export function tensorsArtifactFiles(params: TensorMap, options?: EncodeOptions): Record<string, Uint8Array> {
  return { [TENSORS_FILE]: encodeTensorMap(params, options) };
}

/**
 * The parameters held by a `tensors` artifact — `params.tensors`, or its only `.tensors` file — as
 * dense tensors viewing `files`' bytes. Verify the files first (`verifyArtifact`, or the registry's
 * `resolve`). Throws `ArtifactError` `INVALID_MANIFEST` for another format, an ambiguous or sparse file,
 * `MISSING_FILE` when the bytes are absent, and the codec's `CodecError` for undecodable bytes.
 */
export function readTensorsArtifact(
  artifact: Pick<ArtifactDraft, 'name' | 'format' | 'files'> & { version?: number },
  files: Readonly<Record<string, Uint8Array>>,
): TensorMap {
  const where = labelOf(artifact);
  if (artifact.format !== 'tensors')
    throw new ArtifactError('INVALID_MANIFEST', `${where}: format is ${artifact.format}, not tensors`);
  const candidates = artifact.files.map((f) => f.path).filter((p) => p.endsWith('.tensors'));
  const path = candidates.includes(TENSORS_FILE)
    ? TENSORS_FILE
    : candidates.length === 1
      ? candidates[0]
      : undefined;
  if (path === undefined)
    throw new ArtifactError(
      'INVALID_MANIFEST',
      `${where}: expected ${TENSORS_FILE} or a single .tensors file, found ${candidates.length}`,
    );
  const bytes = Object.hasOwn(files, path) ? files[path] : undefined;
  if (!(bytes instanceof Uint8Array))
    throw new ArtifactError('MISSING_FILE', `${where}: file "${path}" is missing`);
  const params: TensorMap = new Map();
  for (const [name, t] of decodeTensorMap(bytes)) {
    if (isSparse(t))
      throw new ArtifactError(
        'INVALID_MANIFEST',
        `${where}: "${path}" holds sparse tensor "${name}"; parameters are dense`,
      );
    params.set(name, t);
  }
  return params;
}
