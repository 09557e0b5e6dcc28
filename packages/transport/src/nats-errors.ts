/** Client errors of nats.js, mapped to `TransportError` codes callers branch on. */
import { errors } from '@nats-io/transport-node';
import { TransportError, type TransportErrorCode } from './errors.js';

/** Maps a client error to a `TransportError` whose message says what was attempted. */
export function mapNatsError(err: unknown, what: string): TransportError {
  if (err instanceof TransportError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const fail = (code: TransportErrorCode, text: string) =>
    new TransportError(code, `${what}: ${text}`, { cause: err });
  if (err instanceof errors.RequestError) {
    if (err.isNoResponders()) return fail('NO_RESPONDERS', 'no responders');
    if (err.cause instanceof errors.TimeoutError) return fail('TIMEOUT', 'timed out');
  }
  if (err instanceof errors.NoRespondersError) return fail('NO_RESPONDERS', 'no responders');
  if (err instanceof errors.TimeoutError) return fail('TIMEOUT', 'timed out');
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    // A request pending when its connection closes fails with RequestError 'connection closed'.
    const closing = e instanceof errors.RequestError && e.message === 'connection closed';
    if (closing || e instanceof errors.ClosedConnectionError || e instanceof errors.DrainingConnectionError) {
      return fail('CLOSED', 'the transport is closed');
    }
  }
  if (err instanceof errors.InvalidSubjectError) return fail('BAD_SUBJECT', message);
  if (message.includes('max_payload')) return fail('TOO_LARGE', message);
  if (/jetstream (is )?not enabled/i.test(message)) {
    return fail(
      'SERVER',
      'JetStream is not enabled on the server (run nats-server with -js or a jetstream block)',
    );
  }
  if (err instanceof errors.AuthorizationError || err instanceof errors.ConnectionError)
    return fail('CONNECTION', message);
  return fail('SERVER', message);
}
