/** Helpers shared by the concurrency patterns. */
import { invalidArg, shown } from '../errors.js';
import { watchAbort } from '../abort.js';

/** Anything `for await` can walk: a sync or an async iterable. */
export type Source<T> = Iterable<T> | AsyncIterable<T>;

/** Throws ERR_INVALID_ARG unless `value` is an integer >= 1 (or +Infinity when `allowInfinity`). */
export function checkConcurrency(value: unknown, name = 'concurrency', allowInfinity = false): number {
  if (allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalidArg(`${name} must be an integer >= 1, got ${shown(value)}`);
  }
  return value;
}

/** Throws ERR_INVALID_ARG unless `signal` is undefined or an AbortSignal. */
export function checkSignal(signal: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArg(`${name} must be an AbortSignal`);
  return signal;
}

/** Opens an iterator over `source`, async or not, so callers see a single async shape. */
export function openSource<T>(source: Source<T>): AsyncIterator<T> {
  if (source == null) throw invalidArg('source must be an iterable or an async iterable');
  const asyncIt = (source as AsyncIterable<T>)[Symbol.asyncIterator];
  if (typeof asyncIt === 'function') return asyncIt.call(source);
  const syncIt = (source as Iterable<T>)[Symbol.iterator];
  if (typeof syncIt !== 'function') throw invalidArg('source must be an iterable or an async iterable');
  const it = syncIt.call(source);
  // Wrapped so a synchronous throw from the source becomes a rejection like an async source's, and
  // each value is awaited as `for await` does over a sync iterable: a promise in the source gives
  // its value, and a rejected one fails the walk (after closing the source, as `for await` does).
  return {
    next: async () => {
      const r = it.next();
      if (r === null || typeof r !== 'object') throw new TypeError(`Iterator result ${String(r)} is not an object`);
      if (r.done) return r;
      try {
        return { done: false, value: await r.value };
      } catch (error) {
        try {
          it.return?.();
        } catch {
          // The rejection is the error to report.
        }
        throw error;
      }
    },
    return: async (value?: unknown) => (it.return ? it.return(value) : { done: true, value: undefined as never }),
  };
}

/**
 * `iterator.next()` as a promise of a well-formed result: a synchronous throw becomes a rejection
 * and a result that is not an object a TypeError (as `for await` gives), so each is a failing
 * source rather than an unhandled rejection or an endless pull.
 */
export async function pullOne<T>(iterator: AsyncIterator<T>): Promise<IteratorResult<T>> {
  const r: unknown = await iterator.next();
  if (r === null || typeof r !== 'object') throw new TypeError(`Iterator result ${String(r)} is not an object`);
  return r as IteratorResult<T>;
}

/**
 * Listens for `signal`'s abort and returns the function that stops listening.
 * Calls `onAbort` at once when the signal is already aborted.
 */
export function onAbort(signal: AbortSignal | undefined, onAbortFn: () => void): () => void {
  if (!signal) return () => {};
  return watchAbort(signal, onAbortFn);
}
