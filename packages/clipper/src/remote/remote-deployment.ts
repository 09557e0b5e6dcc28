import type { Clipper, DeployOptions } from '../clipper.js';
import type { RemoteContainers, ReplicaEvent } from './remote-containers.js';

/** `RemoteContainers.serve` options: Clipper's deploy options, and how many containers to wait for. */
export type RemoteDeployOptions = DeployOptions & {
  /** Containers that must have registered before deploying. Default 1. */
  minReplicas?: number;
  /** Bound on that wait (ms). Default 10 000. */
  waitMs?: number;
};

/**
 * Deploys a model version served by remote containers and keeps Clipper's replica count (its scheduler
 * slots, each a `RemotePredictor`) equal to the live containers, at least 1, through `scaleModel`.
 */
export async function serveRemoteModel(
  remote: RemoteContainers,
  clipper: Clipper,
  model: string,
  version: string,
  options: RemoteDeployOptions,
): Promise<() => void> {
  const { minReplicas = 1, waitMs = 10_000, ...deploy } = options;
  await remote.waitFor(model, version, minReplicas, waitMs);
  const live = () => remote.replicas(model, version).length;
  let chain = Promise.resolve();
  const follow = (e?: ReplicaEvent) => {
    chain = chain.then(async () => {
      if (e && e.type !== 'added') {
        // Scale down only after the gone replica's batches failed over (their retry needs a slot), and
        // let the scheduler see their failure first.
        await remote.drained(model, version, e.replica.replica, waitMs);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const want = Math.max(1, live());
      try {
        const have = clipper.getModel(model).versions.find((x) => x.version === version)?.replicas.length;
        if (have !== undefined && have !== want) await clipper.scaleModel(model, version, want);
      } catch {
        // Undeployed or Clipper closed: nothing to follow any more.
      }
    });
  };
  // Listen before deploying, then reconcile once: a replica coming or going meanwhile is not missed.
  const stop = remote.onChange((e) => {
    if (e.replica.model === model && e.replica.version === version) follow(e);
  });
  try {
    await clipper.deployModel(model, version, () => remote.predictor(model, version), {
      ...deploy,
      replicas: Math.max(1, live()),
    });
  } catch (err) {
    stop();
    throw err;
  }
  follow();
  return stop;
}
