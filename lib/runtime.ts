/**
 * The JS half of the runtime: configuration, the promise registry that the native completion
 * channel settles, inline-vs-offload decisions, cancellation and stats.
 */
import { native, defaultThreads } from './native.js';
import { watchAbort } from './abort.js';
import { OffloopError, abortError, invalidArg, type OffloopErrorCode, shown } from './errors.js';

export interface RuntimeOptions {
  /** Pool threads. Default `os.availableParallelism()`, or `OFFLOOP_THREADS`. Only before the pool starts. */
  threads?: number;
  /** Jobs that may wait in the queue; beyond it calls reject with `ERR_QUEUE_FULL`. Default 65 536. */
  maxQueue?: number;
  /** Jobs estimated to cost less than this many microseconds run on the calling thread. Default 50. */
  inlineThresholdUs?: number;
  /** Longest slice of main-thread work when building large JS results. Default 4 ms. */
  sliceBudgetMs?: number;
  /**
   * Scheduling priority of the pool threads (Linux; elsewhere ignored). `'idle'` (default, or
   * `OFFLOOP_PRIORITY`): they use only CPU time nothing else wants, so a saturated pool never delays
   * the event loop or libuv's I/O threads; `'low'`: nice +10; `'normal'`: the process's priority.
   * Only before the pool starts.
   */
  threadPriority?: ThreadPriority;
}

export type ThreadPriority = 'idle' | 'low' | 'normal';

/** Per-call options every async function takes. */
export interface CallOptions {
  signal?: AbortSignal;
  /**
   * Where the work runs: `'auto'` (default) lets the cost model choose; `'inline'` runs it on the
   * calling thread (the promise is already settled when returned); `'pool'` always offloads.
   */
  mode?: 'auto' | 'inline' | 'pool';
}

/** Defaults, in one place. */
export const DEFAULTS = Object.freeze({
  maxQueue: 65_536,
  inlineThresholdUs: 50,
  sliceBudgetMs: 4,
});

const settings: { inlineThresholdUs: number; sliceBudgetMs: number } = {
  inlineThresholdUs: DEFAULTS.inlineThresholdUs,
  sliceBudgetMs: DEFAULTS.sliceBudgetMs,
};

export function runtimeSettings(): Readonly<typeof settings> {
  return settings;
}

function checkPositiveInt(name: string, v: unknown, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw invalidArg(`${name} must be an integer between 1 and ${max}, got ${shown(v)}`);
  }
  return v;
}

function checkNonNegative(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw invalidArg(`${name} must be a finite number >= 0, got ${shown(v)}`);
  }
  return v;
}

/**
 * Sets runtime options. `threads` can only be set before the pool starts (the first offloaded job
 * starts it); the others can change at any time.
 */
export function configure(options: RuntimeOptions): void {
  if (options === null || typeof options !== 'object') throw invalidArg('configure() takes an options object');
  const known = new Set(['threads', 'maxQueue', 'inlineThresholdUs', 'sliceBudgetMs', 'threadPriority']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalidArg(`configure(): unknown option "${key}"`);
  }
  const threads = options.threads === undefined ? undefined : checkPositiveInt('threads', options.threads, 1024);
  const maxQueue = options.maxQueue === undefined ? undefined : checkPositiveInt('maxQueue', options.maxQueue, 2 ** 31);
  const inline =
    options.inlineThresholdUs === undefined ? undefined : checkNonNegative('inlineThresholdUs', options.inlineThresholdUs);
  const slice = options.sliceBudgetMs === undefined ? undefined : checkNonNegative('sliceBudgetMs', options.sliceBudgetMs);
  const priority = options.threadPriority;
  if (priority !== undefined && priority !== 'idle' && priority !== 'low' && priority !== 'normal') {
    throw invalidArg(`threadPriority must be 'idle', 'low' or 'normal', got ${shown(priority)}`);
  }
  if (threads !== undefined) callNative(() => native.setThreads(threads));
  if (priority !== undefined) callNative(() => native.setPriority(priority));
  if (maxQueue !== undefined) callNative(() => native.setMaxQueue(maxQueue));
  if (inline !== undefined) settings.inlineThresholdUs = inline;
  if (slice !== undefined) settings.sliceBudgetMs = Math.max(0.5, slice);
}

export interface Stats {
  /** Pool size (the size it will have, if it has not started yet). */
  threads: number;
  /** Jobs waiting for a pool thread. */
  queued: number;
  /** Jobs running on pool threads. */
  running: number;
  /** Pool jobs that finished with a value. */
  completed: number;
  /** Pool jobs that finished with an error (panics included). */
  failed: number;
  /** Pool jobs cancelled through an AbortSignal (queued ones dropped, running ones stopped). */
  cancelled: number;
  /** Calls the cost model ran on the calling thread instead of the pool. */
  inline: number;
  /** Busy milliseconds per pool thread since the pool started. */
  busyMs: number[];
  /** The SIMD level the kernels use: `avx512`, `avx2` or `scalar`. */
  simd: string;
  /** The pool threads' scheduling priority. */
  priority: ThreadPriority;
}

let inlineCount = 0;

export function stats(): Stats {
  const s = native.stats();
  return {
    threads: s.threads,
    queued: s.queued,
    running: s.running,
    completed: s.completed,
    failed: s.failed,
    cancelled: s.cancelled,
    inline: inlineCount,
    busyMs: s.busyMs,
    simd: s.simd,
    priority: s.priority as ThreadPriority,
  };
}

const NATIVE_MESSAGE = /^([A-Z][A-Z0-9_]+)(?:@(\d+):(\d+):(\d+))?: ([\s\S]*)$/;

/** Turns an error thrown by the binding ("ERR_X: message" or "ERR_X@offset:line:column: message") into an OffloopError. */
export function fromNativeError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof OffloopError) return err;
  const m = NATIVE_MESSAGE.exec(err.message);
  if (!m) return err;
  const details = m[2] === undefined ? {} : { offset: Number(m[2]), line: Number(m[3]), column: Number(m[4]) };
  return new OffloopError(m[1] as OffloopErrorCode, m[5] ?? '', details);
}

/**
 * What is wrong with the `OFFLOOP_*` settings in `env`, one message each. The native side reads
 * them and falls back to its default for a value it does not know; a typo should not go unseen.
 */
export function environmentProblems(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const threads = env.OFFLOOP_THREADS?.trim();
  if (threads && !/^[1-9][0-9]*$/.test(threads)) {
    problems.push(`OFFLOOP_THREADS must be a positive integer, got ${JSON.stringify(env.OFFLOOP_THREADS)}: using the default pool size`);
  }
  const simd = env.OFFLOOP_SIMD?.trim();
  if (simd && !['scalar', 'portable', 'none', 'avx2', 'avx512'].includes(simd)) {
    problems.push(`OFFLOOP_SIMD must be scalar, avx2 or avx512, got ${JSON.stringify(env.OFFLOOP_SIMD)}: using the widest level the CPU has`);
  }
  const priority = env.OFFLOOP_PRIORITY?.trim();
  if (priority && !['idle', 'low', 'normal'].includes(priority)) {
    problems.push(`OFFLOOP_PRIORITY must be idle, low or normal, got ${JSON.stringify(env.OFFLOOP_PRIORITY)}: using idle`);
  }
  return problems;
}

for (const problem of environmentProblems(process.env)) process.emitWarning(problem, { code: 'OFFLOOP_ENV' });

/** Calls the binding synchronously, rethrowing its errors as OffloopErrors. */
export function callNative<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fromNativeError(err);
  }
}

/** `[code, message, offset, line, column]` from the completion channel. */
export type NativeErrorTuple = [string, string, number | undefined, number | undefined, number | undefined];

/** The error a native error tuple describes (an AbortError for an aborted job). */
export function errorFromTuple(tuple: NativeErrorTuple, signal?: AbortSignal): unknown {
  const [code, message, offset, line, column] = tuple;
  if (code === 'ABORT_ERR') return abortError(signal);
  const details = offset === undefined ? {} : { offset, line, column };
  return new OffloopError(code as OffloopErrorCode, message, details);
}

interface Pending {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  convert: ((raw: unknown) => unknown) | undefined;
  /** Inputs the native job reads: referenced here so the GC cannot free them under the job. */
  keepAlive: unknown;
  signal: AbortSignal | undefined;
  stopWatching: (() => void) | undefined;
}

const pending = new Map<number, Pending>();
let lastId = 0;

function release(id: number, p: Pending): void {
  pending.delete(id);
  p.stopWatching?.();
}

/** Called by the native completion channel with `[id, ok, value, id, ok, value, ...]`. */
function settleBatch(flat: unknown[]): void {
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const id = flat[i] as number;
    const p = pending.get(id);
    if (p === undefined) continue;
    release(id, p);
    const value = flat[i + 2];
    if (flat[i + 1] === true) {
      let out: unknown;
      try {
        out = p.convert ? p.convert(value) : value;
      } catch (err) {
        p.reject(err);
        continue;
      }
      p.resolve(out);
    } else {
      p.reject(errorFromTuple(value as NativeErrorTuple, p.signal));
    }
  }
}

try {
  native.init(settleBatch, defaultThreads);
} catch (cause) {
  // Loaded by a second JS thread (a worker thread) of a process where another one already uses it.
  throw new OffloopError('ERR_NATIVE_LOAD', cause instanceof Error ? cause.message : String(cause), { cause });
}

/**
 * Whether `keep` (an input, or a list of them, or a list of lists) has a view over a resizable
 * ArrayBuffer. A pool job borrows its inputs' memory, and `resize()` to a smaller length gives
 * those pages back to the system under the pool thread (measured: a SIGSEGV of the whole process).
 * A growable SharedArrayBuffer only grows, so its memory stays where it was.
 */
function hasResizable(keep: unknown, depth = 0): boolean {
  if (ArrayBuffer.isView(keep)) return (keep.buffer as { resizable?: boolean }).resizable === true;
  if (depth < 2 && Array.isArray(keep)) return keep.some((k) => hasResizable(k, depth + 1));
  return false;
}

const RESIZABLE =
  'an input is a view of a resizable ArrayBuffer, which could shrink under the pool thread: pass a fixed-length copy (x.slice()), or use the Sync twin where there is one';

/**
 * Queues a native job and returns its promise. `start(id, cancellable)` calls the binding's
 * `...Submit`; `keepAlive` holds the job's inputs until it settles; `convert` maps the raw result.
 */
export function offload<T>(
  start: (id: number, cancellable: boolean) => void,
  keepAlive: unknown,
  signal: AbortSignal | undefined,
  convert?: (raw: unknown) => T,
): Promise<T> {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    return Promise.reject(invalidArg('options.signal must be an AbortSignal'));
  }
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (hasResizable(keepAlive)) return Promise.reject(invalidArg(RESIZABLE));
  const id = (lastId = (lastId + 1) >>> 0);
  return new Promise<T>((resolve, reject) => {
    try {
      start(id, signal !== undefined);
    } catch (err) {
      reject(fromNativeError(err));
      return;
    }
    const p: Pending = {
      resolve: resolve as (v: unknown) => void,
      reject,
      convert,
      keepAlive,
      signal,
      stopWatching: undefined,
    };
    pending.set(id, p);
    if (signal) {
      p.stopWatching = watchAbort(signal, () => {
        // A queued job is dropped now; a running one stops at its next chunk boundary and
        // settles through the completion channel, after it has stopped reading its inputs.
        if (native.cancel(id)) {
          release(id, p);
          reject(abortError(signal));
        }
      });
    }
  });
}

/**
 * Runs an operation where it is cheapest: inline when the cost model says it takes less than
 * `inlineThresholdUs` (or `mode: 'inline'`), else on the pool.
 */
export function dispatch<T>(
  options: CallOptions | undefined,
  estimatedUs: number,
  inline: () => T,
  start: (id: number, cancellable: boolean) => void,
  keepAlive: unknown,
  convert?: (raw: unknown) => T,
): Promise<T> {
  try {
    if (runsInline(options, estimatedUs, keepAlive)) return Promise.resolve(runInline(inline));
  } catch (err) {
    return Promise.reject(err);
  }
  return offload(start, keepAlive, options?.signal, convert);
}

/**
 * `dispatch`'s choice: whether the operation runs on the calling thread. Throws what `dispatch`
 * rejects with for bad options, an aborted signal or a resizable buffer.
 */
export function runsInline(options: CallOptions | undefined, estimatedUs: number, keepAlive: unknown): boolean {
  const signal = options?.signal;
  const mode = options?.mode ?? 'auto';
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArg('options.signal must be an AbortSignal');
  if (signal?.aborted) throw abortError(signal);
  // Checked whatever the mode, so an input that works small keeps working when it grows.
  if (hasResizable(keepAlive)) throw invalidArg(RESIZABLE);
  if (mode === 'inline' || (mode === 'auto' && estimatedUs < settings.inlineThresholdUs)) return true;
  if (mode !== 'pool' && mode !== 'auto') {
    throw invalidArg(`options.mode must be 'auto', 'inline' or 'pool', got ${shown(mode)}`);
  }
  return false;
}

/** Runs an operation `runsInline` chose to run on the calling thread (counted in `stats().inline`). */
export function runInline<T>(inline: () => T): T {
  const value = callNative(inline);
  inlineCount++;
  return value;
}

/**
 * Checks `options.mode` for the functions that always run on the pool and so ignore it
 * (`json.parseFile`, `json.parseMany`, `ndjson.*`): a misspelt mode is still an error.
 */
export function checkMode(options: CallOptions | undefined): void {
  const mode = options?.mode;
  if (mode !== undefined && mode !== 'auto' && mode !== 'inline' && mode !== 'pool') {
    throw invalidArg(`options.mode must be 'auto', 'inline' or 'pool', got ${shown(mode)}`);
  }
}

/** Hidden test hooks: not part of the documented API. */
export const internal = {
  /** A pool job that panics; rejects with `ERR_NATIVE_PANIC`. */
  panicForTest(): Promise<never> {
    return offload((id) => native.panicForTestSubmit(id), undefined, undefined);
  },
  /** A pool job that spins for `ms`, checking for cancellation every 100 µs. */
  spinForTest(ms: number, options?: { signal?: AbortSignal }): Promise<number> {
    return offload((id, c) => native.spinForTestSubmit(id, ms, c), undefined, options?.signal);
  },
  /** Jobs awaiting settlement on the JS side. */
  pendingCount(): number {
    return pending.size;
  },
};
