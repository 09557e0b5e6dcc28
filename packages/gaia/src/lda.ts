import {
  createRng,
  type Model,
  parseConfig,
  type Quality,
  type Rng,
  type TensorMap,
  zeros,
} from '@geoml/core';
import { z } from 'zod';
import { shardData } from './data-split.js';
import { type LdaDocument, newDocument, restoreTopics, saveTopics } from './lda-document.js';
import { loadMailCorpus, toBagOfWords } from './mail-corpus.js';
import { paramData, zeroMap } from './params.js';
import { type DataShard, type DataSplit, type Workload, WorkloadError } from './workload.js';

/** Options of the LDA workload; every field has a default. */
export const ldaOptionsSchema = z
  .object({
    /** Seeds the choice of mails, the train/test and region splits. */
    seed: z.number().int().default(1),
    topics: z.number().int().min(2).max(1000).default(20),
    /** Most frequent words kept (at most 65 535). */
    vocabulary: z.number().int().min(2).max(65_535).default(2000),
    /** Mails used (chosen at random from the 6 046), train and test together. */
    maxDocs: z.number().int().min(4).default(2000),
    /** Tokens kept per mail (its first ones), which bounds the cost of a step. */
    maxTokensPerDoc: z.number().int().min(2).default(100),
    /** Mails with fewer kept tokens are dropped. */
    minTokensPerDoc: z.number().int().min(2).default(10),
    /** Words in fewer mails than this are dropped as rare. */
    minDocFrequency: z.number().int().min(1).default(5),
    testFraction: z.number().gt(0).lt(1).default(0.1),
    /** Documents per batch (one Gibbs sweep over each). */
    batchSize: z.number().int().min(1).default(16),
    /** Dirichlet prior of document–topic proportions. */
    alpha: z.number().gt(0).default(0.1),
    /** Dirichlet prior of topic–word distributions. */
    beta: z.number().gt(0).default(0.01),
    /** Under the `skewed` split, the fraction of mails that stay in their mail group's region. */
    skew: z.number().min(0).max(1).default(0.9),
    /** Fold-in iterations per held-out document in `evaluate`. */
    evalIterations: z.number().int().min(1).default(20),
  })
  .strict();

export type LdaOptions = z.input<typeof ldaOptionsSchema>;

/**
 * Documents to sweep once each. `computeUpdate` resamples their tokens' topics in place (the shard's
 * local state) and returns the matching count deltas; `seed` makes the sampling repeatable. So compute
 * each batch once and apply its update exactly once (a dropped update leaves the counts short of the
 * assignments), and save a shard's state only between batches.
 */
export interface LdaBatch {
  readonly docs: readonly LdaDocument[];
  readonly seed: number;
}

/** The LDA workload plus its vocabulary, for reading topics. */
export interface LdaWorkload extends Workload<LdaBatch> {
  readonly vocabulary: readonly string[];
  /** Mail group of each training document, by training-item index (what the shards' `items` index into). */
  readonly trainDocGroups: readonly string[];
  /** The `n` most probable words of each topic under `params`. */
  topWords(params: TensorMap, n: number): string[][];
}

/**
 * Latent Dirichlet allocation by collapsed Gibbs sampling on the SpamAssassin mail corpus (the real
 * stand-in for Gaia's NYTimes topic model). The shared parameters are the counts `word_topic` [V, K]
 * and `topic_totals` [K] (float32 holding integers); each shard keeps its documents' token–topic
 * assignments and document–topic counts locally, never in the parameter server. `init` returns all-zero
 * counts: a token enters the counts the first time its document is swept (sampled from the current
 * conditional), so the counts in the servers always equal the sum of the shards' assignments once every
 * update has arrived. An update is sparse: ±1 deltas for the (word, topic) pairs whose tokens moved.
 * Counts seen through stale replicas may dip below zero; the sampler treats them as zero.
 *
 * Quality: held-out log-likelihood per token (nats, higher is better; perplexity = exp(−value)) by
 * document completion: each test mail's even-position tokens fix its topic mix (deterministic EM
 * fold-in with the topics held fixed), its odd-position tokens are scored.
 *
 * Splits: `iid` deals mails at random; `skewed` orders mails by group (ham first, spam last) and gives
 * each region a slice, keeping a fraction `skew` there.
 */
export function createLda(options: LdaOptions = {}): LdaWorkload {
  const o = parseConfig(ldaOptionsSchema, options, 'LDA options');
  const root = createRng(o.seed);
  const mails = loadMailCorpus();
  const chosen = root
    .fork('docs')
    .shuffle(Array.from({ length: mails.length }, (_, i) => i))
    .slice(0, o.maxDocs)
    .sort((a, b) => a - b);
  const picked = chosen.map((i) => mails[i] as (typeof mails)[number]);
  const bag = toBagOfWords(picked, {
    vocabulary: o.vocabulary,
    minDocFrequency: o.minDocFrequency,
    maxTokens: o.maxTokensPerDoc,
    minTokens: o.minTokensPerDoc,
  });
  if (bag.docs.length < 2 || bag.vocabulary.length < 2) {
    throw new WorkloadError(
      'INVALID_ARGUMENT',
      `LDA options leave ${bag.docs.length} mails and ${bag.vocabulary.length} words; lower minTokensPerDoc or minDocFrequency, or raise maxDocs`,
    );
  }
  const order = root.fork('holdout').shuffle(Array.from({ length: bag.docs.length }, (_, i) => i));
  const testCount = Math.max(1, Math.round(order.length * o.testFraction));
  const testIdx = order.slice(0, testCount).sort((a, b) => a - b);
  const trainIdx = order.slice(testCount).sort((a, b) => a - b);
  const train = trainIdx.map((i) => bag.docs[i] as Uint16Array);
  const test = testIdx.map((i) => bag.docs[i] as Uint16Array);
  const groups = [...new Set(picked.map((m) => m.group))].sort();
  const trainDocGroups = trainIdx.map((i) => picked[bag.source[i] as number]?.group ?? '');
  const trainGroup = Uint32Array.from(trainDocGroups, (g) => groups.indexOf(g));
  const V = bag.vocabulary.length;
  const K = o.topics;
  const wordTopicShape = [V, K] as const;

  const counts = (params: TensorMap) => ({
    nwk: paramData(params, 'word_topic', wordTopicShape),
    nk: paramData(params, 'topic_totals', [K]),
  });

  const model: Model<LdaBatch> = {
    name: 'lda',
    init(_rng: Rng): TensorMap {
      return new Map([
        ['word_topic', zeros('float32', wordTopicShape)],
        ['topic_totals', zeros('float32', [K])],
      ]);
    },
    computeUpdate(params: TensorMap, batch: LdaBatch): TensorMap {
      const { nwk, nk } = counts(params);
      const update = zeroMap([
        ['word_topic', wordTopicShape],
        ['topic_totals', [K]],
      ]);
      const dW = (update.get('word_topic') as { data: Float32Array }).data;
      const dT = (update.get('topic_totals') as { data: Float32Array }).data;
      const rng = createRng(batch.seed);
      const cumulative = new Float64Array(K);
      const vBeta = V * o.beta;
      for (const doc of batch.docs) {
        const { words, topics, topicCounts } = doc;
        for (let i = 0; i < words.length; i++) {
          const row = (words[i] as number) * K;
          const old = topics[i] as number;
          if (old >= 0) {
            topicCounts[old] = (topicCounts[old] as number) - 1;
            dW[row + old] = (dW[row + old] as number) - 1;
            dT[old] = (dT[old] as number) - 1;
          }
          let sum = 0;
          for (let k = 0; k < K; k++) {
            const nw = Math.max(0, (nwk[row + k] as number) + (dW[row + k] as number));
            const nt = Math.max(0, (nk[k] as number) + (dT[k] as number));
            sum += (((topicCounts[k] as number) + o.alpha) * (nw + o.beta)) / (nt + vBeta);
            cumulative[k] = sum;
          }
          const u = rng.next() * sum;
          let k = 0;
          while (k < K - 1 && (cumulative[k] as number) <= u) k++;
          topics[i] = k;
          topicCounts[k] = (topicCounts[k] as number) + 1;
          dW[row + k] = (dW[row + k] as number) + 1;
          dT[k] = (dT[k] as number) + 1;
        }
      }
      return update;
    },
    evaluate(params: TensorMap): Quality {
      const phi = topicWordProbabilities(params);
      let logLik = 0;
      let scored = 0;
      const theta = new Float64Array(K);
      const next = new Float64Array(K);
      for (const words of test) {
        theta.fill(1 / K);
        for (let it = 0; it < o.evalIterations; it++) {
          next.fill(o.alpha);
          for (let i = 0; i < words.length; i += 2) {
            const row = (words[i] as number) * K;
            let z = 0;
            for (let k = 0; k < K; k++) z += (theta[k] as number) * (phi[row + k] as number);
            for (let k = 0; k < K; k++)
              next[k] = (next[k] as number) + ((theta[k] as number) * (phi[row + k] as number)) / z;
          }
          let total = 0;
          for (let k = 0; k < K; k++) total += next[k] as number;
          for (let k = 0; k < K; k++) theta[k] = (next[k] as number) / total;
        }
        for (let i = 1; i < words.length; i += 2) {
          const row = (words[i] as number) * K;
          let p = 0;
          for (let k = 0; k < K; k++) p += (theta[k] as number) * (phi[row + k] as number);
          logLik += Math.log(p);
          scored++;
        }
      }
      return { metric: 'log_likelihood_per_token', value: logLik / scored, higherIsBetter: true };
    },
  };

  /** φ[w, k] = p(word w | topic k), from the counts (negative counts read as zero). */
  function topicWordProbabilities(params: TensorMap): Float64Array {
    const { nwk } = counts(params);
    const totals = new Float64Array(K);
    for (let w = 0; w < V; w++) {
      for (let k = 0; k < K; k++) totals[k] = (totals[k] as number) + Math.max(0, nwk[w * K + k] as number);
    }
    const phi = new Float64Array(V * K);
    for (let w = 0; w < V; w++) {
      for (let k = 0; k < K; k++) {
        phi[w * K + k] =
          (Math.max(0, nwk[w * K + k] as number) + o.beta) / ((totals[k] as number) + V * o.beta);
      }
    }
    return phi;
  }

  return {
    model,
    batchSize: o.batchSize,
    vocabulary: bag.vocabulary,
    trainDocGroups,
    describe: {
      name: 'lda',
      params: V * K + K,
      trainItems: train.length,
      testItems: test.length,
      metric: 'log_likelihood_per_token',
      higherIsBetter: true,
      updates: 'sparse',
    },
    topWords(params: TensorMap, n: number): string[][] {
      const phi = topicWordProbabilities(params);
      return Array.from({ length: K }, (_, k) =>
        Array.from({ length: V }, (_, w) => w)
          .sort((a, b) => (phi[b * K + k] as number) - (phi[a * K + k] as number) || a - b)
          .slice(0, n)
          .map((w) => bag.vocabulary[w] as string),
      );
    },
    shards(regions: number, workersPerRegion: number, split: DataSplit): DataShard<LdaBatch>[][] {
      return shardData(
        train.length,
        { regions, workersPerRegion, split },
        { skewKeys: trainGroup },
        o.skew,
        root,
        (items, sampler) => {
          const docs = new Map<number, LdaDocument>();
          for (const d of items) {
            docs.set(d, newDocument(train[d] as Uint16Array, K));
          }
          return {
            next(rng: Rng): LdaBatch {
              const picked = sampler.next(rng, Math.min(o.batchSize, items.length));
              return { docs: Array.from(picked, (d) => docs.get(d) as LdaDocument), seed: rng.int(2 ** 32) };
            },
            local: {
              save: () => saveTopics(docs.values()),
              restore: (bytes: Uint8Array) => restoreTopics([...docs.values()], bytes, K),
            },
          };
        },
      );
    },
    dispose() {},
  };
}
