import { TransportError } from './errors.js';

/**
 * NATS subject syntax: dot-separated non-empty tokens without whitespace; `*` matches one token and `>`
 * (only as the last token) matches one or more. Both transports validate on the client, so a bad subject
 * fails the same way everywhere.
 */

const WHITESPACE = /\s/;

/** Throws `TransportError` `BAD_SUBJECT` unless `subject` is valid; wildcards only when `wildcards`. */
export function validateSubject(subject: string, wildcards: boolean, what = 'subject'): void {
  if (typeof subject !== 'string' || subject.length === 0) {
    throw new TransportError('BAD_SUBJECT', `${what} must be a non-empty string`);
  }
  if (WHITESPACE.test(subject)) {
    throw new TransportError('BAD_SUBJECT', `${what} '${subject}' contains whitespace`);
  }
  const tokens = subject.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.length === 0) {
      throw new TransportError('BAD_SUBJECT', `${what} '${subject}' has an empty token`);
    }
    if (token === '*' || token === '>') {
      if (!wildcards) {
        throw new TransportError('BAD_SUBJECT', `${what} '${subject}' may not contain wildcards`);
      }
      if (token === '>' && i !== tokens.length - 1) {
        throw new TransportError('BAD_SUBJECT', `${what} '${subject}': '>' must be the last token`);
      }
    }
  }
}

/** Throws `BAD_SUBJECT` unless `queue` is a valid queue group name (non-empty, no whitespace). */
export function validateQueue(queue: string): void {
  if (typeof queue !== 'string' || queue.length === 0 || WHITESPACE.test(queue)) {
    throw new TransportError('BAD_SUBJECT', `queue group '${queue}' must be non-empty without whitespace`);
  }
}

/** Whether a literal subject matches a (possibly wildcard) pattern; both given as token arrays. */
export function matchTokens(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== '*' && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}

/** Whether a literal subject matches a (possibly wildcard) pattern. */
export function subjectMatches(pattern: string, subject: string): boolean {
  return matchTokens(pattern.split('.'), subject.split('.'));
}
