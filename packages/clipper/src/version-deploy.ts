import type { Tensor } from '@geoml/core';
import {
  checkInputs,
  type LoadedPredictor,
  type ReplicaMaker,
  signatureOf,
  warmUp,
  zeroInput,
} from './artifact-loader.js';
import type { Clipper } from './clipper.js';
import { modelDeploymentSchema } from './config.js';
import { HotLoadError, type HotLoadStage } from './hot-load-events.js';
import { nextTurn } from './next-turn.js';
import { parseOnce, vouch } from './parsed-config.js';
import type { Watched } from './version-rollout.js';

type Query = Record<string, Tensor>;

/**
 * Loads, checks and warms up the replicas of version `v` and deploys them dark (not serving); returns
 * the warm-up query. `checkRunning` throws once the hot-loader stopped; `setStage` follows the steps.
 */
export async function deployDark(
  clipper: Clipper,
  w: Watched,
  v: string,
  maker: ReplicaMaker,
  setStage: (stage: HotLoadStage) => void,
  checkRunning: () => void,
): Promise<Query> {
  const { model, settings } = w;
  const { artifact } = maker;
  // Replica 0 is made first: its declared inputs and warm-up answer give the signature.
  const first = await maker.make();
  let firstTaken = false;
  try {
    checkInputs(artifact, first);
    setStage('warm-up');
    const input = settings.warmUpInput ?? zeroInput(artifact, first);
    if (!input)
      throw new HotLoadError(
        'INSTALL_FAILED',
        'the model declares no inputs and the artifact metadata names none; pass warmUpInput',
      );
    const warm = { batchSizes: settings.warmUpBatchSizes, rejectNonFinite: settings.rejectNonFinite };
    const sample = await warmUp(first, input, warm);
    checkRunning();
    const signature = signatureOf(artifact, first, sample);
    setStage('load');
    // Further replicas load one after another: each load is a burst of CPU (a thread starting, a
    // session being built) that competes with the version still serving, so one burst at a time.
    let previous: Promise<unknown> = Promise.resolve();
    const factory = (index: number): Promise<LoadedPredictor> => {
      if (index === 0 && !firstTaken) {
        firstTaken = true;
        return Promise.resolve(first);
      }
      const made = previous.then(async () => {
        await nextTurn();
        const replica = await maker.make();
        try {
          await warmUp(replica, input, warm);
        } catch (e) {
          await replica.dispose?.();
          throw e;
        }
        return replica;
      });
      previous = made.catch(() => undefined);
      return made;
    };
    // The watch's deployment settings are parsed for its first version only; later versions take the
    // parsed settings with their own version and metadata (plain data made here).
    w.deployment ??= parseOnce(
      modelDeploymentSchema,
      { ...settings.deploy, name: model, version: v, replicas: settings.replicas, activate: false },
      `model deployment ${model}:${v}`,
    );
    const deployment = vouch(modelDeploymentSchema, {
      ...w.deployment,
      version: v,
      metadata: {
        ...(signature ? { signature } : {}),
        artifact: {
          name: artifact.name,
          version: artifact.version,
          format: artifact.format,
          sha256: artifact.sha256,
          createdAt: artifact.createdAt,
        },
        ...(artifact.metadata.quality ? { quality: artifact.metadata.quality } : {}),
      },
    });
    await clipper.deployModel(model, v, factory, deployment);
    firstTaken = true;
    return input;
  } finally {
    if (!firstTaken) await first.dispose?.();
  }
}
