// Public API of @geoml/cli: the command line as functions, for scripts and tests.

export { HELP, type MainOptions, main } from './cli.js';
export { CliError } from './cli-error.js';
export type { Io } from './io.js';
export { readModelFiles } from './model-files.js';
export { registryCommand } from './registry.js';
export { type Server, serveConfigFromArgs, startServer } from './serve.js';
export {
  type ServeConfig,
  type ServeConfigInput,
  type ServedModel,
  serveConfigSchema,
  servedModelSchema,
} from './serve-config.js';
export { type TrainSummary, trainCommand } from './train.js';
export { type TrainFile, trainFileSchema, type WorkloadSpec, workloadSpecSchema } from './train-file.js';
