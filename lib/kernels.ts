/**
 * Numeric kernels. Each has an async form (pool or inline, by cost) and a `...Sync` twin that runs
 * on the calling thread. Inputs are borrowed, not copied: do not modify or transfer them until the
 * promise settles.
 */
import { native } from './native.js';
import { callNative, dispatch, type CallOptions } from './runtime.js';
import { estimateUs } from './cost.js';

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

/** Sum of `x`, accumulated in f64 with compensation; same bits for any thread count or SIMD level. */
export function sum(x: FloatArray, options?: CallOptions): Promise<number> {
  return dispatch(
    options,
    estimateUs('sum', length(x)),
    () => native.sumSync(x),
    (id, c) => native.sumSubmit(id, x, c),
    x,
  );
}

export function sumSync(x: FloatArray): number {
  return callNative(() => native.sumSync(x));
}

/** Dot product of two arrays of the same type and length. */
export function dot(x: FloatArray, y: FloatArray, options?: CallOptions): Promise<number> {
  return dispatch(
    options,
    estimateUs('dot', length(x)),
    () => native.dotSync(x, y),
    (id, c) => native.dotSubmit(id, x, y, c),
    [x, y],
  );
}

export function dotSync(x: FloatArray, y: FloatArray): number {
  return callNative(() => native.dotSync(x, y));
}

/**
 * Smallest and largest element. NaN anywhere makes both NaN; -0 is smaller than +0;
 * an empty array gives `{ min: Infinity, max: -Infinity }` (as `Math.min()`/`Math.max()`).
 */
export function minmax(x: FloatArray, options?: CallOptions): Promise<MinMax> {
  return dispatch(
    options,
    estimateUs('minmax', length(x)),
    () => toMinMax(native.minmaxSync(x)),
    (id, c) => native.minmaxSubmit(id, x, c),
    x,
    toMinMax,
  );
}

export function minmaxSync(x: FloatArray): MinMax {
  return toMinMax(callNative(() => native.minmaxSync(x)));
}
