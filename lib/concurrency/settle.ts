/** `settle`: run everything with bounded concurrency and collect every success and every failure. */
import { mapConcurrent, type MapFn } from './map.js';
import type { Source } from './shared.js';
import { invalidArg } from '../errors.js';

export interface SettleOptions {
  /** Most calls of `fn` in flight at once: an integer >= 1. */
  concurrency: number;
  /** Aborting it aborts every in-flight call's signal; `settle` then rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface SettleError {
  /** 0-based position of the failed item in the source. */
  index: number;
  error: unknown;
}

export interface SettleResult<R> {
  /** One slot per source item: the value at its index, or a hole (`index in values` is false) where it failed. */
  values: R[];
  /** Every failure, sorted by index. */
  errors: SettleError[];
}

type Outcome<R> = { index: number; ok: true; value: R } | { index: number; ok: false; error: unknown };

/**
 * Calls `fn` on every item of `source`, at most `options.concurrency` at a time, and never stops at a
 * failure: resolves once all calls have settled. Rejects only when the caller aborts (AbortError, after
 * in-flight calls settle), when the source throws, or with ERR_INVALID_ARG for a bad `concurrency`.
 */
export async function settle<T, R>(
  source: Source<T>,
  fn: MapFn<T, R>,
  options: SettleOptions,
): Promise<SettleResult<Awaited<R>>> {
  // Checked here: `guarded` below is always a function, so mapConcurrent's own check cannot see it.
  if (typeof fn !== 'function') throw invalidArg('fn must be a function');
  const guarded = async (item: T, context: Parameters<MapFn<T, R>>[1]): Promise<Outcome<Awaited<R>>> => {
    try {
      return { index: context.index, ok: true, value: await fn(item, context) };
    } catch (error) {
      return { index: context.index, ok: false, error };
    }
  };
  const values: Awaited<R>[] = [];
  const errors: SettleError[] = [];
  let count = 0;
  const outcomes = mapConcurrent(source, guarded, { ...options, ordered: false });
  for await (const outcome of outcomes) {
    count++;
    if (outcome.ok) values[outcome.index] = outcome.value;
    else errors.push({ index: outcome.index, error: outcome.error });
  }
  // A failure at the end would otherwise leave `values` short instead of holed.
  values.length = count;
  errors.sort((a, b) => a.index - b.index);
  return { values, errors };
}
