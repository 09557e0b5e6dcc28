import { z } from 'zod';
import { ContainerError } from '../errors.js';

/*
 * The container protocol's names and control messages (docs/container-protocol.md is the normative text;
 * this file and the doc must agree). Tensors travel in the core codec's binary layout; only the small
 * control messages (registration, heartbeat, goodbye) are JSON.
 */

/** Protocol version; carried in the `geoml-protocol` header of every request and in every registration. */
export const PROTOCOL_VERSION = 1;
export const SUBJECT_PREFIX = 'geoml.containers';
export const REGISTER_SUBJECT = `${SUBJECT_PREFIX}.register`;
export const HEARTBEAT_SUBJECT = `${SUBJECT_PREFIX}.heartbeat`;
export const GOODBYE_SUBJECT = `${SUBJECT_PREFIX}.goodbye`;
/** Registries publish here when they start; every container answers by registering again at once. */
export const DISCOVER_SUBJECT = `${SUBJECT_PREFIX}.discover`;

export const HEADER_PROTOCOL = 'geoml-protocol';
export const HEADER_BATCH_SIZE = 'geoml-batch-size';
export const HEADER_REQUEST_ID = 'geoml-request-id';
export const HEADER_REPLICA = 'geoml-replica';
export const HEADER_ERROR = 'geoml-error';
export const HEADER_ERROR_MESSAGE = 'geoml-error-message';

/** Heartbeats a registry may miss before it drops a replica. */
export const DEFAULT_MISSED_HEARTBEATS = 3;
export const DEFAULT_HEARTBEAT_MS = 1000;

/** Error codes a container puts in `geoml-error`. */
export const REMOTE_ERROR_CODES = ['BAD_INPUT', 'BAD_REQUEST', 'VERSION_MISMATCH', 'MODEL_ERROR'] as const;
export type RemoteErrorCode = (typeof REMOTE_ERROR_CODES)[number];

/** Model names, versions and replica ids are single subject tokens. */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
const token = z.string().regex(TOKEN, 'must be 1-128 characters of A-Z a-z 0-9 _ -');

const inputSpecSchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(['float32', 'float64', 'int32', 'int8', 'uint8', 'int64', 'bool']),
  shape: z.array(z.number().int().nonnegative().nullable()),
});

/** Body of register and heartbeat messages (JSON, UTF-8). */
export const registrationSchema = z.object({
  protocol: z.literal(PROTOCOL_VERSION),
  model: token,
  version: token,
  replica: token,
  inputs: z.array(inputSpecSchema),
  heartbeatMs: z.number().int().positive().max(3_600_000),
  maxBatchSize: z.number().int().positive().optional(),
  /** Heartbeats only: a counter starting at 0 with the registration. */
  seq: z.number().int().nonnegative().optional(),
});
export type Registration = z.output<typeof registrationSchema>;

export const goodbyeSchema = z.object({ model: token, version: token, replica: token });

/** Throws `ContainerError` `BAD_INPUT` naming the field when `value` is not a valid subject token. */
export function checkToken(what: string, value: string): string {
  if (!TOKEN.test(value)) {
    throw new ContainerError(
      'BAD_INPUT',
      `${what} ${JSON.stringify(value)} must be 1-128 characters of A-Z a-z 0-9 _ - (it is a NATS subject token)`,
    );
  }
  return value;
}

/** The subject every replica of a model version answers on, as members of one queue group. */
export function predictSubject(model: string, version: string): string {
  return `${SUBJECT_PREFIX}.${model}.${version}.predict`;
}

/** The queue group of a model version's replicas on `predictSubject`. */
export function queueGroup(model: string, version: string): string {
  return `${SUBJECT_PREFIX}.${model}.${version}`;
}

/** The subject only one replica answers on (no queue group): registries address replicas directly. */
export function replicaSubject(model: string, version: string, replica: string): string {
  return `${SUBJECT_PREFIX}.${model}.${version}.${replica}.predict`;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value));
}

/** Parses a JSON control message; undefined when it is not valid (a registry ignores junk, never throws). */
export function decodeJson<T>(schema: z.ZodType<T>, bytes: Uint8Array): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(utf8Decoder.decode(bytes)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
