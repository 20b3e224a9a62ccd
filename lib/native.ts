/**
 * The only file that loads the compiled binary. Everything else imports `native` from here.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { OffloopError } from './errors.js';
import type { Tape } from './json/tape.js';

/** The binding's surface, as lib/ uses it (the generated index.d.ts is not the public API). */
export type SyncReduction = (x: unknown, ddof: number) => number | [number, number];
export type SyncElementwise = (x: unknown, y: unknown, a: number, b: number, out: unknown) => unknown;

export interface NativeBinding {
  init(settleBatch: (flat: unknown[]) => void, defaultThreads: number): void;
  cancel(id: number): boolean;
  stats(): NativeStats;
  setThreads(threads: number): void;
  setMaxQueue(maxQueue: number): void;
  setPriority(priority: string): void;
  startPool(): number;
  sumSubmit(id: number, x: unknown, cancellable: boolean): void;
  sumSync(x: unknown): number;
  dotSubmit(id: number, x: unknown, y: unknown, cancellable: boolean): void;
  dotSync(x: unknown, y: unknown): number;
  minmaxSubmit(id: number, x: unknown, cancellable: boolean): void;
  minmaxSync(x: unknown): [number, number];
  reduceSubmit(id: number, op: string, x: unknown, ddof: number, cancellable: boolean): void;
  /** Raw Sync callbacks, one per reduction: `(x, ddof)`. */
  syncMean: SyncReduction;
  syncVariance: SyncReduction;
  syncStd: SyncReduction;
  syncNorm2: SyncReduction;
  syncArgmin: SyncReduction;
  syncArgmax: SyncReduction;
  syncMinmax: SyncReduction;
  /** `minmax` into `pair[0]`, `pair[1]` (a Float64Array of 2). */
  syncMinmaxInto(x: unknown, pair: Float64Array): void;
  syncExactSum: SyncReduction;
  elementwiseSubmit(
    id: number,
    op: string,
    x: unknown,
    y: unknown,
    a: number,
    b: number,
    out: unknown,
    cancellable: boolean,
  ): void;
  /** Raw Sync callbacks, one per element-wise operation: `(x, y, a, b, out)`. */
  syncAdd: SyncElementwise;
  syncSub: SyncElementwise;
  syncMul: SyncElementwise;
  syncDiv: SyncElementwise;
  syncAxpy: SyncElementwise;
  syncScale: SyncElementwise;
  syncClamp: SyncElementwise;
  syncCumsum: SyncElementwise;
  sortSubmit(id: number, op: string, x: unknown, inPlace: boolean, cancellable: boolean): void;
  sortSync(op: string, x: unknown, inPlace: boolean): unknown;
  quantileSubmit(id: number, x: unknown, qs: number[], cancellable: boolean): void;
  quantileSync(x: unknown, qs: number[]): Float64Array;
  histogramSubmit(id: number, x: unknown, bins: number, lo: number, hi: number, hasRange: boolean, cancellable: boolean): void;
  histogramSync(x: unknown, bins: number, lo: number, hi: number, hasRange: boolean): [Float64Array, Float64Array];
  matmulSubmit(id: number, a: unknown, b: unknown, m: number, k: number, n: number, out: unknown, cancellable: boolean): void;
  matmulSync(a: unknown, b: unknown, m: number, k: number, n: number, out: unknown): unknown;
  matvecSubmit(id: number, a: unknown, x: unknown, m: number, k: number, out: unknown, cancellable: boolean): void;
  matvecSync(a: unknown, x: unknown, m: number, k: number, out: unknown): unknown;
  kernelProbeSubmit(id: number, op: string, x: unknown, y: unknown, out: unknown, a: number, b: number): void;
  jsonParseSubmit(id: number, bytes: Uint8Array, maxDepth: number, cancellable: boolean): void;
  /** A number: the tape was packed into `scratch`, in that many bytes (see lib/json/tape.ts `scratchTape`). */
  jsonParseSync(bytes: Uint8Array, maxDepth: number, scratch?: ArrayBuffer): Tape | number;
  jsonParseFileSubmit(id: number, path: string, maxDepth: number, cancellable: boolean): void;
  jsonValidateSubmit(id: number, bytes: Uint8Array, maxDepth: number, cancellable: boolean): void;
  jsonValidateSync(bytes: Uint8Array, maxDepth: number): void;
  jsonSelectSubmit(id: number, bytes: Uint8Array, pointers: string[], maxDepth: number, cancellable: boolean): void;
  jsonSelectSync(bytes: Uint8Array, pointers: string[], maxDepth: number): Tape;
  jsonParseManySubmit(id: number, inputs: Uint8Array[], maxDepth: number, cancellable: boolean): void;
  ndjsonParseSubmit(id: number, bytes: Uint8Array, onError: number, maxDepth: number, continued: boolean, cancellable: boolean): void;
  ndjsonColumnsSubmit(
    id: number,
    bytes: Uint8Array,
    paths: string[],
    types: string[],
    onError: number,
    maxDepth: number,
    cancellable: boolean,
  ): void;
  panicForTestSubmit(id: number): void;
  spinForTestSubmit(id: number, ms: number, cancellable: boolean): void;
}

export interface NativeStats {
  threads: number;
  started: boolean;
  queued: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  busyMs: number[];
  simd: string;
  priority: string;
}

/** Platforms a prebuilt binary ships for. */
export const SUPPORTED_PLATFORMS = ['linux-x64-gnu'] as const;

function platformTag(): string {
  const { platform, arch } = process;
  if (platform !== 'linux') return `${platform}-${arch}`;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const libc = report?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
  return `${platform}-${arch}-${libc}`;
}

function packageRoot(): string {
  // lib/native.ts (tests, tsx) and dist/index.js (the package) both sit one level below the root.
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

function load(): NativeBinding {
  const tag = platformTag();
  const explicit = process.env.OFFLOOP_BINARY;
  const file = explicit ?? join(packageRoot(), 'prebuilds', `offloop.${tag}.node`);
  if (!existsSync(file)) {
    throw new OffloopError(
      'ERR_NATIVE_LOAD',
      `offloop has no prebuilt binary for this platform (${tag}); prebuilt: ${SUPPORTED_PLATFORMS.join(', ')}. ` +
        `To build from source (needs Rust and Node), clone the repository, run \`npm install\` (which runs ` +
        `\`npm run build:native\`), and point OFFLOOP_BINARY at the built .node file. Looked for: ${file}`,
    );
  }
  const require = createRequire(import.meta.url);
  try {
    return require(file) as NativeBinding;
  } catch (cause) {
    throw new OffloopError('ERR_NATIVE_LOAD', `offloop could not load its native binary ${file}: ${String(cause)}`, {
      cause,
    });
  }
}

export const native: NativeBinding = load();

/** The default pool size, as the runtime rules say: `os.availableParallelism()`. */
export const defaultThreads = availableParallelism();
