import { ConfigError } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import { modelDeploymentSchema } from '../src/config.js';
import { FunctionPredictor } from '../src/function-predictor.js';
import { parsedBy, parseOnce, vouch } from '../src/parsed-config.js';

describe('settings parsed once', () => {
  it('trusts only objects it parsed or was vouched for, per schema', () => {
    const input = { name: 'm', version: '1', batching: { mode: 'aimd', maxBatchSize: 4 } };
    const parsed = parseOnce(modelDeploymentSchema, input, 'deployment');
    expect(parsedBy(modelDeploymentSchema, parsed)).toBe(true);
    expect(parsedBy(modelDeploymentSchema, input)).toBe(false);
    expect(parsedBy(modelDeploymentSchema, { ...parsed })).toBe(false); // a copy is the caller's again
    const next = vouch(modelDeploymentSchema, { ...parsed, version: '2' });
    expect(parsedBy(modelDeploymentSchema, next)).toBe(true);
    expect(() => parseOnce(modelDeploymentSchema, { ...input, replicas: 0 }, 'deployment')).toThrow(
      ConfigError,
    );
  });

  it('deployModel takes a parsed deployment as it is, and still refuses a bad one of its own', async () => {
    const clipper = new Clipper();
    const echo = () => new FunctionPredictor<number, number>((xs) => xs.map((x) => x + 1));
    const deployment = parseOnce(
      modelDeploymentSchema,
      { name: 'm', version: '1', replicas: 1, activate: true, metadata: { note: 'parsed once' } },
      'deployment',
    );
    const info = await clipper.deployModel('m', '1', [echo()], deployment);
    expect(info.metadata).toEqual({ note: 'parsed once' });
    // Parsed for another version: parsed again under the given one.
    const v2 = await clipper.deployModel('m', 2, [echo()], deployment);
    expect(v2.version).toBe('2');
    await expect(
      clipper.deployModel('m', '3', [echo()], { batching: { mode: 'aimd', maxBatchSize: -1 } }),
    ).rejects.toThrow(ConfigError);
    await clipper.close();
  });
});
