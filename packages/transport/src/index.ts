// Public API of @geoml/transport. Every public name is listed here; files not named stay internal.

export { EmulatedNetwork, type EmulatedNetworkOptions, type LinkStats } from './emulated-network.js';
export { RegistryError, TransportError, type TransportErrorCode } from './errors.js';
export { InProcessHub, type InProcessHubOptions } from './in-process-hub.js';
export { InProcessTransport, type InProcessTransportOptions } from './in-process-transport.js';
export {
  ModelRegistry,
  type ModelRegistryOptions,
  modelRegistryOptionsSchema,
} from './model-registry.js';
export {
  type FetchedArtifact,
  type ResolvedArtifact,
  type StoredFile,
  verifyFiles,
} from './model-registry-files.js';
export type { ModelWatch, ModelWatchOptions } from './model-registry-watch.js';
export { type NatsCluster, type NatsClusterOptions, startNatsCluster } from './nats-cluster.js';
export type { NatsConf, NatsConfValue } from './nats-conf.js';
export { type NatsServer, type NatsServerOptions, startNatsServer } from './nats-server.js';
export { NatsTransport, type NatsTransportOptions } from './nats-transport.js';
export type { Network } from './network.js';
export {
  EC2_11_REGIONS,
  type Ec2Region,
  ec2BandwidthMbps,
  ec2RoundTripMs,
  lanMbpsForRegime,
  type ProfileName,
  type ProfileOptions,
  profileOptionsSchema,
  topologyProfile,
} from './profiles.js';
export { subjectMatches, validateSubject } from './subject.js';
export {
  type Supercluster,
  type SuperclusterOptions,
  startSupercluster,
  type WanLinkSpec,
  type WanRoute,
} from './supercluster.js';
export {
  lanLinkSchema,
  linkSchema,
  parseTopology,
  type Topology,
  type TopologyLink,
  topologySchema,
} from './topology.js';
export type {
  BlobInfo,
  BlobStore,
  Headers,
  KvEntry,
  KvOperation,
  KvOptions,
  KvStore,
  KvWatch,
  KvWatchOptions,
  Lane,
  Msg,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
  Subscription,
  Transport,
  TransportStatus,
} from './transport.js';
export { type WanDirectionStats, WanProxy, type WanProxyOptions, type WanProxyStats } from './wan-proxy.js';
