// Public API of @geoml/gaia. Every public name is listed here; files not named stay internal.

export {
  type DataShard,
  type DataSplit,
  type Workload,
  type WorkloadDescription,
  WorkloadError,
} from './workload.js';
