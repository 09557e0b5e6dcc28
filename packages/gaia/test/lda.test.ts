import { ConfigError, createRng, type TensorMap } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { createLda } from '../src/lda.js';
import type { LdaDocument } from '../src/lda-document.js';
import { WorkloadError } from '../src/workload.js';
import { applyUpdate, expectPartition, nonFinite } from './workloads-helpers.js';

const small = { maxDocs: 400, vocabulary: 500, topics: 8, maxTokensPerDoc: 60, batchSize: 16, seed: 3 };

describe('LDA workload (collapsed Gibbs on the SpamAssassin corpus)', () => {
  it('builds a corpus from the real mails with the asked caps', () => {
    const w = createLda(small);
    expect(w.vocabulary).toHaveLength(500);
    expect(new Set(w.vocabulary).size).toBe(500);
    expect(w.vocabulary).not.toContain('the');
    expect(w.describe.trainItems + w.describe.testItems).toBeLessThanOrEqual(400);
    expect(w.describe.trainItems).toBeGreaterThan(250);
    expect(w.describe.params).toBe(500 * 8 + 8);
    expect(new Set(w.trainDocGroups)).toEqual(
      new Set(['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2']),
    );
  });

  it('raises held-out log-likelihood per token over a few dozen sweeps from zero counts', async () => {
    const w = createLda(small);
    const params = w.model.init(createRng(1));
    const shard = w.shards(1, 1, 'iid')[0]?.[0];
    const rng = createRng(2);
    const before = await w.model.evaluate(params);
    expect(before.value).toBeCloseTo(-Math.log(500), 6); // zero counts: every word equally likely
    for (let s = 0; s < 80; s++) {
      const update = (await w.model.computeUpdate(params, shard?.nextBatch(rng) as never)) as TensorMap;
      expect(nonFinite(update)).toBe(0);
      applyUpdate(params, update);
    }
    const after = await w.model.evaluate(params);
    expect(after).toMatchObject({ metric: 'log_likelihood_per_token', higherIsBetter: true });
    expect(after.value).toBeGreaterThan(before.value + 0.15);
    // The topics explain held-out words better than the same counts pooled into one topic (a unigram).
    const counts = params.get('word_topic')?.data as Float32Array;
    const pooled = new Float32Array(counts.length);
    for (let v = 0; v < 500; v++)
      pooled[v * 8] = counts.subarray(v * 8, v * 8 + 8).reduce((a, b) => a + b, 0);
    const unigram = new Map(params).set('word_topic', { dtype: 'float32', shape: [500, 8], data: pooled });
    expect(after.value).toBeGreaterThan((await w.model.evaluate(unigram)).value + 0.02);
  });

  it('keeps the server counts equal to the sum of the shards’ local token assignments', async () => {
    const w = createLda(small);
    const params = w.model.init(createRng(1));
    const shards = w.shards(2, 2, 'iid').flat();
    const rng = createRng(5);
    const docs = new Set<LdaDocument>();
    for (let s = 0; s < 15; s++) {
      for (const shard of shards) {
        const batch = shard.nextBatch(rng);
        for (const d of batch.docs) docs.add(d);
        const update = (await w.model.computeUpdate(params, batch)) as TensorMap;
        const dW = update.get('word_topic')?.data as Float32Array;
        const dT = update.get('topic_totals')?.data as Float32Array;
        expect(dW.every((v) => Number.isInteger(v))).toBe(true);
        const perTopic = new Float64Array(8);
        dW.forEach((v, i) => {
          perTopic[i % 8] = (perTopic[i % 8] as number) + v;
        });
        expect(Array.from(perTopic)).toEqual(Array.from(dT));
        applyUpdate(params, update);
      }
    }
    const expected = new Float32Array(500 * 8);
    let tokens = 0;
    for (const d of docs) {
      d.words.forEach((word, i) => {
        const k = d.topics[i] as number;
        expect(k).toBeGreaterThanOrEqual(0);
        expected[word * 8 + k] = (expected[word * 8 + k] as number) + 1;
        tokens++;
      });
      expect(d.topicCounts.reduce((a, b) => a + b, 0)).toBe(d.words.length);
    }
    expect(params.get('word_topic')?.data).toEqual(expected);
    const totals = params.get('topic_totals')?.data as Float32Array;
    expect(totals.reduce((a, b) => a + b, 0)).toBe(tokens);
  });

  it('changes only the counts of words in the batch', async () => {
    const w = createLda(small);
    const params = w.model.init(createRng(1));
    const shard = w.shards(1, 1, 'iid')[0]?.[0];
    const rng = createRng(8);
    applyUpdate(params, (await w.model.computeUpdate(params, shard?.nextBatch(rng) as never)) as TensorMap);
    const batch = shard?.nextBatch(rng);
    if (!batch) throw new Error('no batch');
    const words = new Set(batch.docs.flatMap((d) => Array.from(d.words)));
    const dW = ((await w.model.computeUpdate(params, batch)) as TensorMap).get('word_topic')
      ?.data as Float32Array;
    for (let v = 0; v < 500; v++) {
      if (!words.has(v)) expect(Array.from(dW.subarray(v * 8, v * 8 + 8)).every((x) => x === 0)).toBe(true);
    }
  });

  it('is deterministic from its seeds', async () => {
    const run = async (batchSeed: number) => {
      const w = createLda(small);
      const params = w.model.init(createRng(1));
      const shard = w.shards(2, 1, 'skewed')[1]?.[0];
      const rng = createRng(batchSeed);
      for (let s = 0; s < 5; s++)
        applyUpdate(
          params,
          (await w.model.computeUpdate(params, shard?.nextBatch(rng) as never)) as TensorMap,
        );
      return { q: (await w.model.evaluate(params)).value, counts: params.get('word_topic')?.data };
    };
    const a = await run(4);
    expect(await run(4)).toEqual(a);
    expect((await run(5)).q).not.toBe(a.q);
  });

  it('splits mails exactly once; the skewed split separates ham from spam', () => {
    const w = createLda(small);
    expectPartition(w.shards(3, 2, 'iid'), w.describe.trainItems, 3, 2);
    expectPartition(w.shards(3, 2, 'skewed'), w.describe.trainItems, 3, 2);
    const spamShare = (split: 'iid' | 'skewed') =>
      w.shards(2, 1, split).map((row) => {
        const items = row[0]?.items ?? new Uint32Array();
        return items.filter((i) => w.trainDocGroups[i]?.startsWith('spam')).length / items.length;
      });
    const [hamRegion, spamRegion] = spamShare('skewed');
    expect(spamRegion).toBeGreaterThan((hamRegion as number) + 0.4);
    const [a, b] = spamShare('iid');
    expect(Math.abs((a as number) - (b as number))).toBeLessThan(0.15);
  });

  it('rejects bad options with a ConfigError naming the field', () => {
    expect(() => createLda({ topics: 1 })).toThrow(ConfigError);
    expect(() => createLda({ vocabulary: 100_000 })).toThrow(/vocabulary/);
    expect(() => createLda({ alpha: -1 })).toThrow(/alpha/);
    expect(() => createLda({ maxDocs: 20, minTokensPerDoc: 5000 })).toThrow(WorkloadError);
  });
});
