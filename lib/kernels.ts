/**
 * Numeric kernels. Each has an async form (pool or inline, by cost) and a `...Sync` twin that runs
 * on the calling thread. Inputs are borrowed, not copied: do not modify or transfer them until the
 * promise settles.
 */
import { native, type SyncElementwise, type SyncReduction } from './native.js';
import { callNative, dispatch, type CallOptions } from './runtime.js';
import { estimateUs } from './cost.js';
import { flagOf, invalidArg, shown } from './errors.js';

export type FloatArray = Float64Array | Float32Array;

export interface MinMax {
  min: number;
  max: number;
}

function length(x: unknown): number {
  return ArrayBuffer.isView(x) ? (x as FloatArray).length : 0;
}

function toMinMax(raw: unknown): MinMax {
  const [min, max] = raw as [number, number];
  return { min, max };
}

/**
 * Sum of `x`, accumulated in f64 pairwise within fixed blocks and compensated across them (the
 * error bound of pairwise summation); same bits for any thread count or SIMD level.
 * `{ exact: true }`: the correctly rounded sum.
 */
export function sum(x: NumericArray, options?: SumOptions): Promise<number> {
  let exact: boolean;
  try {
    knownKeys(options, 'sum', ['exact']);
    exact = flagOf(options, 'exact');
  } catch (err) {
    return Promise.reject(err);
  }
  if (exact) return reduceCall('exactSum', x, 0, options, estimateUs('exactSum', length(x)));
  return dispatch(
    options,
    estimateUs('sum', length(x)),
    () => native.sumSync(x),
    (id, c) => native.sumSubmit(id, x, c),
    x,
  );
}

export function sumSync(x: NumericArray, options?: { exact?: boolean }): number {
  knownKeys(options, 'sumSync', ['exact']);
  if (flagOf(options, 'exact')) return reduceSync('exactSum', x);
  return callNative(() => native.sumSync(x));
}

/** Dot product of two arrays of the same type and length. */
export function dot(x: FloatArray, y: FloatArray, options?: CallOptions): Promise<number> {
  return guard(() => {
    knownKeys(options, 'dot', []);
    return dispatch(
      options,
      estimateUs('dot', length(x)),
      () => native.dotSync(x, y),
      (id, c) => native.dotSubmit(id, x, y, c),
      [x, y],
    );
  });
}

export function dotSync(x: FloatArray, y: FloatArray): number {
  return callNative(() => native.dotSync(x, y));
}

/**
 * Smallest and largest element. NaN anywhere makes both NaN; -0 is smaller than +0;
 * an empty array gives `{ min: Infinity, max: -Infinity }` (as `Math.min()`/`Math.max()`).
 */
export function minmax(x: NumericArray, options?: CallOptions): Promise<MinMax> {
  return minmaxOf(x, options, 'minmax');
}

function minmaxOf(x: NumericArray, options: CallOptions | undefined, fn: string): Promise<MinMax> {
  return guard(() => {
    knownKeys(options, fn, []);
    return dispatch(
      options,
      estimateUs('minmax', length(x)),
      () => toMinMax(native.syncMinmax(x, 0)),
      (id, c) => native.reduceSubmit(id, 'minmax', x, 0, c),
      x,
      toMinMax,
    );
  });
}

/** Where `minmaxSync` has the native side write its result (no array made per call). */
const minmaxPair = new Float64Array(2);

export function minmaxSync(x: NumericArray): MinMax {
  callNative(() => native.syncMinmaxInto(x, minmaxPair));
  return { min: minmaxPair[0]!, max: minmaxPair[1]! };
}

// ---------------------------------------------------------------------------------------------
// Issue #4 kernels. Every async function has a `...Sync` twin; both throw/reject OffloopError
// ERR_INVALID_ARG on bad arguments.

/** Typed arrays the order-statistics and min/max kernels accept. */
export type NumericArray = Float64Array | Float32Array | Int32Array;

type ReduceOp = 'mean' | 'variance' | 'std' | 'norm2' | 'argmin' | 'argmax' | 'exactSum';

/** The binding's Sync callback of each reduction (one function each: no name to pass per call). */
const syncReduction: Record<ReduceOp, SyncReduction> = {
  mean: native.syncMean,
  variance: native.syncVariance,
  std: native.syncStd,
  norm2: native.syncNorm2,
  argmin: native.syncArgmin,
  argmax: native.syncArgmax,
  exactSum: native.syncExactSum,
};

function reduceCall(op: ReduceOp, x: NumericArray, ddof: number, options: CallOptions | undefined, cost: number): Promise<number> {
  const sync = syncReduction[op];
  return dispatch(
    options,
    cost,
    () => sync(x, ddof) as number,
    (id, c) => native.reduceSubmit(id, op, x, ddof, c),
    x,
  );
}

function reduceSync(op: ReduceOp, x: NumericArray, ddof = 0): number {
  const sync = syncReduction[op];
  return callNative(() => sync(x, ddof) as number);
}

export interface SumOptions extends CallOptions {
  /** Correctly rounded (superaccumulator) instead of pairwise: slower, exact to the last bit. */
  exact?: boolean;
}

export interface VarianceOptions extends CallOptions {
  /** Delta degrees of freedom: the divisor is `n - ddof` (0: population, 1: sample). */
  ddof?: number;
}

/** `options.ddof` (default 0); ERR_INVALID_ARG for anything but a number (the binding checks its range). */
function ddofOf(options: VarianceOptions | undefined, fn: string): number {
  knownKeys(options, fn, ['ddof']);
  const ddof = options?.ddof ?? 0;
  if (typeof ddof !== 'number') throw invalidArg(`ddof must be a number, got ${shown(ddof)}`);
  return ddof;
}

/** Mean (NaN for an empty array). */
export function mean(x: NumericArray, options?: CallOptions): Promise<number> {
  return guard(() => (knownKeys(options, 'mean', []), reduceCall('mean', x, 0, options, estimateUs('reduce', length(x)))));
}
export function meanSync(x: NumericArray): number {
  return reduceSync('mean', x);
}

/**
 * Variance `sum((x - mean)^2) / (n - ddof)`, in one pass (blocks of deviations from a shift near
 * their mean, summed pairwise and combined by exact identities); NaN when `n <= ddof`.
 */
export function variance(x: NumericArray, options?: VarianceOptions): Promise<number> {
  return guard(() => reduceCall('variance', x, ddofOf(options, 'variance'), options, estimateUs('variance', length(x))));
}
export function varianceSync(x: NumericArray, options?: { ddof?: number }): number {
  return reduceSync('variance', x, ddofOf(options, 'varianceSync'));
}

/** Standard deviation: the square root of `variance`. */
export function std(x: NumericArray, options?: VarianceOptions): Promise<number> {
  return guard(() => reduceCall('std', x, ddofOf(options, 'std'), options, estimateUs('variance', length(x))));
}
export function stdSync(x: NumericArray, options?: { ddof?: number }): number {
  return reduceSync('std', x, ddofOf(options, 'stdSync'));
}

/** Euclidean norm, rescaled internally so it neither overflows nor underflows needlessly. */
export function norm2(x: NumericArray, options?: CallOptions): Promise<number> {
  return guard(() => (knownKeys(options, 'norm2', []), reduceCall('norm2', x, 0, options, estimateUs('reduce', length(x)))));
}
export function norm2Sync(x: NumericArray): number {
  return reduceSync('norm2', x);
}

/** Smallest element (NaN if any element is NaN; +Infinity for an empty array). */
export async function min(x: NumericArray, options?: CallOptions): Promise<number> {
  return (await minmaxOf(x, options, 'min')).min;
}
export function minSync(x: NumericArray): number {
  return minmaxSync(x).min;
}

/** Largest element (NaN if any element is NaN; -Infinity for an empty array). */
export async function max(x: NumericArray, options?: CallOptions): Promise<number> {
  return (await minmaxOf(x, options, 'max')).max;
}
export function maxSync(x: NumericArray): number {
  return minmaxSync(x).max;
}

/** Index of the first smallest element, or of the first NaN (as numpy); -1 for an empty array. */
export function argmin(x: NumericArray, options?: CallOptions): Promise<number> {
  return guard(() => (knownKeys(options, 'argmin', []), reduceCall('argmin', x, 0, options, estimateUs('reduce', length(x)))));
}
export function argminSync(x: NumericArray): number {
  return reduceSync('argmin', x);
}

/** Index of the first largest element, or of the first NaN; -1 for an empty array. */
export function argmax(x: NumericArray, options?: CallOptions): Promise<number> {
  return guard(() => (knownKeys(options, 'argmax', []), reduceCall('argmax', x, 0, options, estimateUs('reduce', length(x)))));
}
export function argmaxSync(x: NumericArray): number {
  return reduceSync('argmax', x);
}

type EwiseOp = 'add' | 'sub' | 'mul' | 'div' | 'axpy' | 'scale' | 'clamp' | 'cumsum';

/** The binding's Sync callback of each element-wise operation. */
const syncElementwise: Record<EwiseOp, SyncElementwise> = {
  add: native.syncAdd,
  sub: native.syncSub,
  mul: native.syncMul,
  div: native.syncDiv,
  axpy: native.syncAxpy,
  scale: native.syncScale,
  clamp: native.syncClamp,
  cumsum: native.syncCumsum,
};

function ewise<T extends FloatArray>(
  op: EwiseOp,
  x: T,
  y: T | undefined,
  a: number,
  b: number,
  out: T | undefined,
  options: CallOptions | undefined,
  cost = 'elementwise' as const as 'elementwise' | 'cumsum',
): Promise<T> {
  knownKeys(options, op, []);
  const convert = (raw: unknown): T => (out ?? raw) as T;
  return dispatch(
    options,
    estimateUs(cost, length(x)),
    () => convert(syncElementwise[op](x, y, a, b, out)),
    (id, c) => native.elementwiseSubmit(id, op, x, y, a, b, out, c),
    [x, y, out],
    convert,
  );
}

function ewiseSync<T extends FloatArray>(op: EwiseOp, x: T, y: T | undefined, a: number, b: number, out: T | undefined): T {
  const sync = syncElementwise[op];
  const raw = callNative(() => sync(x, y, a, b, out));
  return (out ?? raw) as T;
}

function num(name: string, v: unknown): number {
  if (typeof v !== 'number') throw invalidArg(`${name} must be a number, got ${shown(v)}`);
  return v;
}

/** Keys every async kernel takes. */
const CALL_KEYS = ['signal', 'mode'];

/**
 * ERR_INVALID_ARG for an option `fn` does not know: a misspelt `exact`, `ddof`, `inPlace`, `bins`
 * or `range` would otherwise give a different result without a word.
 */
function knownKeys(options: object | undefined | null, fn: string, keys: readonly string[]): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') throw invalidArg(`${fn}: options must be an object, got ${shown(options)}`);
  for (const key of Object.keys(options)) {
    if (!keys.includes(key) && !CALL_KEYS.includes(key)) {
      throw invalidArg(`${fn}: unknown option ${shown(key)}; it takes ${[...keys, ...CALL_KEYS].join(', ')}`);
    }
  }
}

function guard<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * `x + y` element-wise, into `out` (which may be `x` or `y`, but must not partially overlap
 * them) or a new array. Resolves to the array written.
 */
export function add<T extends FloatArray>(x: T, y: T, out?: T, options?: CallOptions): Promise<T> {
  return guard(() => ewise('add', x, y, 0, 0, out, options));
}
export function addSync<T extends FloatArray>(x: T, y: T, out?: T): T {
  return ewiseSync('add', x, y, 0, 0, out);
}
/** `x - y` element-wise (see `add`). */
export function sub<T extends FloatArray>(x: T, y: T, out?: T, options?: CallOptions): Promise<T> {
  return guard(() => ewise('sub', x, y, 0, 0, out, options));
}
export function subSync<T extends FloatArray>(x: T, y: T, out?: T): T {
  return ewiseSync('sub', x, y, 0, 0, out);
}
/** `x * y` element-wise (see `add`). */
export function mul<T extends FloatArray>(x: T, y: T, out?: T, options?: CallOptions): Promise<T> {
  return guard(() => ewise('mul', x, y, 0, 0, out, options));
}
export function mulSync<T extends FloatArray>(x: T, y: T, out?: T): T {
  return ewiseSync('mul', x, y, 0, 0, out);
}
/** `x / y` element-wise (see `add`). */
export function div<T extends FloatArray>(x: T, y: T, out?: T, options?: CallOptions): Promise<T> {
  return guard(() => ewise('div', x, y, 0, 0, out, options));
}
export function divSync<T extends FloatArray>(x: T, y: T, out?: T): T {
  return ewiseSync('div', x, y, 0, 0, out);
}
/** `alpha * x` element-wise. */
export function scale<T extends FloatArray>(alpha: number, x: T, out?: T, options?: CallOptions): Promise<T> {
  return guard(() => ewise('scale', x, undefined, num('alpha', alpha), 0, out, options));
}
export function scaleSync<T extends FloatArray>(alpha: number, x: T, out?: T): T {
  return ewiseSync('scale', x, undefined, num('alpha', alpha), 0, out);
}
/**
 * `alpha * x + y` element-wise, two roundings (no FMA), as the JS expression. Pass `y` as `out`
 * for the BLAS in-place update.
 */
export function axpy<T extends FloatArray>(alpha: number, x: T, y: T, out?: T, options?: CallOptions): Promise<T> {
  return guard(() => ewise('axpy', x, y, num('alpha', alpha), 0, out, options));
}
export function axpySync<T extends FloatArray>(alpha: number, x: T, y: T, out?: T): T {
  return ewiseSync('axpy', x, y, num('alpha', alpha), 0, out);
}
/** `x < lo ? lo : x > hi ? hi : x` element-wise: NaN stays NaN. Requires `lo <= hi`. */
export function clamp<T extends FloatArray>(x: T, lo: number, hi: number, out?: T, options?: CallOptions): Promise<T> {
  return guard(() => ewise('clamp', x, undefined, num('lo', lo), num('hi', hi), out, options));
}
export function clampSync<T extends FloatArray>(x: T, lo: number, hi: number, out?: T): T {
  return ewiseSync('clamp', x, undefined, num('lo', lo), num('hi', hi), out);
}
/** Running sum in f64 (plain, like numpy and a JS loop; see docs/kernels.md for its error bound); the same bits for any thread count or SIMD level. */
export function cumsum<T extends FloatArray>(x: T, out?: T, options?: CallOptions): Promise<T> {
  return guard(() => ewise('cumsum', x, undefined, 0, 0, out, options, 'cumsum'));
}
export function cumsumSync<T extends FloatArray>(x: T, out?: T): T {
  return ewiseSync('cumsum', x, undefined, 0, 0, out);
}

export interface SortOptions extends CallOptions {
  /** Sort `x` itself instead of a copy. */
  inPlace?: boolean;
}

/**
 * `x` itself, or a private copy when it is a view of a SharedArrayBuffer. The sorts read their
 * input twice (once to count each bucket, once to scatter into it), and another thread writing
 * the shared memory in between made the scatter write past its buckets (a SIGSEGV); a copy taken
 * first is read by nobody else. Not a typed array: returned as it is, for the native type check.
 */
function unshared<T>(x: T): T {
  if (ArrayBuffer.isView(x) && typeof SharedArrayBuffer === 'function' && x.buffer instanceof SharedArrayBuffer) {
    return (x as unknown as { slice(): T }).slice();
  }
  return x;
}

/**
 * Ascending sort, NaN last, -0 before +0: bit for bit `TypedArray.prototype.sort()` (NaNs of
 * different bit patterns stay in input order, where V8's order among them is unspecified). Resolves to
 * a new sorted array, or to `x` itself with `{ inPlace: true }`.
 */
export function sort<T extends NumericArray>(x: T, options?: SortOptions): Promise<T> {
  let inPlace: boolean;
  try {
    knownKeys(options, 'sort', ['inPlace']);
    inPlace = flagOf(options, 'inPlace');
  } catch (err) {
    return Promise.reject(err);
  }
  const src = unshared(x);
  // A shared `x` sorted in place: its copy is sorted in place and copied back.
  const convert = (raw: unknown): T => {
    if (!inPlace) return raw as T;
    if (src !== x) (x as unknown as { set(a: ArrayLike<number>): void }).set(src as unknown as ArrayLike<number>);
    return x;
  };
  return dispatch(
    options,
    estimateUs('sort', length(x)),
    () => convert(native.sortSync('sort', src, inPlace)),
    (id, c) => native.sortSubmit(id, 'sort', src, inPlace, c),
    src,
    convert,
  );
}
export function sortSync<T extends NumericArray>(x: T, options?: { inPlace?: boolean }): T {
  knownKeys(options, 'sortSync', ['inPlace']);
  const inPlace = flagOf(options, 'inPlace');
  const src = unshared(x);
  const raw = callNative(() => native.sortSync('sort', src, inPlace));
  if (!inPlace) return raw as T;
  if (src !== x) (x as unknown as { set(a: ArrayLike<number>): void }).set(src as unknown as ArrayLike<number>);
  return x;
}

/** Indices that sort `x` stably (NaN last, in index order), as a Uint32Array. */
export function argsort(x: NumericArray, options?: CallOptions): Promise<Uint32Array> {
  return guard(() => {
    knownKeys(options, 'argsort', []);
    const src = unshared(x);
    return dispatch(
      options,
      estimateUs('sort', length(x)),
      () => native.sortSync('argsort', src, false) as Uint32Array,
      (id, c) => native.sortSubmit(id, 'argsort', src, false, c),
      src,
    );
  });
}
export function argsortSync(x: NumericArray): Uint32Array {
  const src = unshared(x);
  return callNative(() => native.sortSync('argsort', src, false) as Uint32Array);
}

function qsList(qs: number | ArrayLike<number>): number[] {
  if (typeof qs === 'number') return [qs];
  if (qs === null || typeof qs !== 'object' || typeof qs.length !== 'number') {
    throw invalidArg(`qs must be a number or an array of numbers, got ${shown(qs)}`);
  }
  // An array-like object can claim any length: copying { length: 1e9 } ran V8 out of memory.
  if (!Array.isArray(qs) && !ArrayBuffer.isView(qs) && !(Number.isSafeInteger(qs.length) && qs.length >= 0 && qs.length <= 1 << 24)) {
    throw invalidArg(`qs of ${shown(qs.length)} entries: an array-like qs may have at most 16 777 216; pass an Array or a typed array`);
  }
  const list = Array.from(qs);
  if (list.some((q) => typeof q !== 'number')) throw invalidArg('qs must hold numbers only');
  return list;
}

/**
 * Quantiles with numpy's default linear interpolation; `qs` each in [0, 1]. Resolves to a
 * Float64Array with one value per q (NaN everywhere if `x` holds a NaN).
 */
export function quantile(x: NumericArray, qs: number | ArrayLike<number>, options?: CallOptions): Promise<Float64Array> {
  return guard(() => {
    knownKeys(options, 'quantile', []);
    const list = qsList(qs);
    const src = unshared(x);
    return dispatch(
      options,
      estimateUs('sort', length(x)),
      () => native.quantileSync(src, list),
      (id, c) => native.quantileSubmit(id, src, list, c),
      src,
    );
  });
}
export function quantileSync(x: NumericArray, qs: number | ArrayLike<number>): Float64Array {
  const list = qsList(qs);
  const src = unshared(x);
  return callNative(() => native.quantileSync(src, list));
}

export interface HistogramOptions {
  /** Number of equal-width bins (default 10). */
  bins?: number;
  /** `[lo, hi]`; default: the data's min and max (then NaN or infinities are an error). */
  range?: readonly [number, number];
}

export interface Histogram {
  /** Count per bin (bins are half-open, the last one closed), as exact integers. */
  counts: Float64Array;
  /** `bins + 1` edges. */
  edges: Float64Array;
}

function histArgs(options: HistogramOptions | undefined, fn: string): [number, number, number, boolean] {
  knownKeys(options, fn, ['bins', 'range']);
  const bins = options?.bins ?? 10;
  if (typeof bins !== 'number') throw invalidArg(`bins must be a number, got ${shown(bins)}`);
  const range = options?.range;
  if (range === undefined) return [bins, 0, 0, false];
  if (!Array.isArray(range) || range.length !== 2 || range.some((v) => typeof v !== 'number')) {
    throw invalidArg('range must be [lo, hi]');
  }
  return [bins, range[0]!, range[1]!, true];
}

function toHistogram(raw: unknown): Histogram {
  const [counts, edges] = raw as [Float64Array, Float64Array];
  return { counts, edges };
}

/** numpy's `histogram`: values outside the range and NaNs are not counted. */
export function histogram(x: NumericArray, options?: HistogramOptions & CallOptions): Promise<Histogram> {
  return guard(() => {
    const [bins, lo, hi, has] = histArgs(options, 'histogram');
    return dispatch(
      options,
      estimateUs('histogram', length(x)),
      () => toHistogram(native.histogramSync(x, bins, lo, hi, has)),
      (id, c) => native.histogramSubmit(id, x, bins, lo, hi, has, c),
      x,
      toHistogram,
    );
  });
}
export function histogramSync(x: NumericArray, options?: HistogramOptions): Histogram {
  const [bins, lo, hi, has] = histArgs(options, 'histogramSync');
  return toHistogram(callNative(() => native.histogramSync(x, bins, lo, hi, has)));
}

export interface MatmulShape {
  m: number;
  k: number;
  n: number;
}

function shapeOf(shape: MatmulShape): MatmulShape {
  if (shape === null || typeof shape !== 'object') throw invalidArg('shape must be { m, k, n }');
  for (const key of ['m', 'k', 'n'] as const) {
    if (typeof shape[key] !== 'number') throw invalidArg(`shape.${key} must be a number`);
  }
  return shape;
}

/**
 * `a` (m x k) times `b` (k x n), row-major, into `out` (m x n; must not overlap a or b) or a new
 * array. Each element is one FMA chain over k in order: the same bits on any thread count or SIMD level.
 */
export function matmul<T extends FloatArray>(a: T, b: T, shape: MatmulShape, out?: T, options?: CallOptions): Promise<T> {
  return guard(() => {
    knownKeys(options, 'matmul', []);
    const { m, k, n } = shapeOf(shape);
    const convert = (raw: unknown): T => (out ?? raw) as T;
    return dispatch(
      options,
      estimateUs('matmul', m * k * n),
      () => convert(native.matmulSync(a, b, m, k, n, out)),
      (id, c) => native.matmulSubmit(id, a, b, m, k, n, out, c),
      [a, b, out],
      convert,
    );
  });
}
export function matmulSync<T extends FloatArray>(a: T, b: T, shape: MatmulShape, out?: T): T {
  const { m, k, n } = shapeOf(shape);
  const raw = callNative(() => native.matmulSync(a, b, m, k, n, out));
  return (out ?? raw) as T;
}

/** `a` (m x k, row-major) times the vector `x` (k), into `out` (m) or a new array. */
export function matvec<T extends FloatArray>(
  a: T,
  x: T,
  shape: { m: number; k: number },
  out?: T,
  options?: CallOptions,
): Promise<T> {
  return guard(() => {
    knownKeys(options, 'matvec', []);
    const { m, k } = shapeOf({ ...shape, n: 1 });
    const convert = (raw: unknown): T => (out ?? raw) as T;
    return dispatch(
      options,
      estimateUs('matmul', m * k),
      () => convert(native.matvecSync(a, x, m, k, out)),
      (id, c) => native.matvecSubmit(id, a, x, m, k, out, c),
      [a, x, out],
      convert,
    );
  });
}
export function matvecSync<T extends FloatArray>(a: T, x: T, shape: { m: number; k: number }, out?: T): T {
  const { m, k } = shapeOf({ ...shape, n: 1 });
  const raw = callNative(() => native.matvecSync(a, x, m, k, out));
  return (out ?? raw) as T;
}
