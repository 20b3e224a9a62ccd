/** Concurrency patterns for async work: bounded maps, settle-all, task graphs and commit windows. */
export { mapConcurrent, type MapConcurrentOptions, type MapFn, type TaskContext } from './map.js';
export { settle, type SettleOptions, type SettleResult, type SettleError } from './settle.js';
export {
  TaskGraph,
  DependencyError,
  type GraphTaskFn,
  type TaskGraphRunOptions,
  type TaskGraphResult,
} from './graph.js';
export { CommitWindow, type CommitWindowOptions } from './commit-window.js';
export type { Source } from './shared.js';
