/**
 * offloop: CPU-heavy parsing and numeric work off Node's event loop.
 */
export { configure, stats, internal, DEFAULTS } from './runtime.js';
export type { RuntimeOptions, CallOptions, Stats, ThreadPriority } from './runtime.js';
export { OffloopError } from './errors.js';
export type { OffloopErrorCode, OffloopErrorDetails } from './errors.js';
export * as kernels from './kernels.js';
export type { FloatArray, MinMax } from './kernels.js';
export * as json from './json/index.js';
export type { JsonInput, JsonOptions, ValidateResult, ParseManyResult } from './json/index.js';
export * as ndjson from './ndjson.js';
export type { NdjsonOptions, NdjsonRecords, LineError, StreamOptions, ColumnSpec, ColumnType, Columns, OnError } from './ndjson.js';
export { mapConcurrent, settle, TaskGraph, CommitWindow, DependencyError } from './concurrency/index.js';
export type * from './concurrency/index.js';
