/** `mapConcurrent`: a bounded, lazy, abortable concurrent map over any (async) iterable. */
import { abortError, invalidArg } from '../errors.js';
import { checkConcurrency, checkSignal, onAbort, openSource, pullOne, type Source } from './shared.js';

export interface MapConcurrentOptions {
  /** Most calls of `fn` in flight at once: an integer >= 1. */
  concurrency: number;
  /** Yield results in source order (default `true`) or in completion order (`false`). */
  ordered?: boolean;
  /** Aborting it stops the map: in-flight calls see their signal abort, then the iterator throws an AbortError. */
  signal?: AbortSignal;
}

/** What `fn` receives beside the item. */
export interface TaskContext {
  /** 0-based position of the item in the source. */
  index: number;
  /** Aborts when the caller aborts, when another call fails, or when the consumer stops iterating. */
  signal: AbortSignal;
}

export type MapFn<T, R> = (item: T, context: TaskContext) => R | PromiseLike<R>;

/**
 * Maps `source` through `fn` with at most `options.concurrency` calls in flight, yielding the results.
 *
 * - The source is pulled lazily, one item at a time, and only while fewer than `concurrency` items are
 *   in flight or finished-but-not-yet-yielded; so memory stays bounded by `concurrency` in both modes.
 * - On the first failure (a rejected `fn`, a throwing source, or the caller's abort) it stops pulling,
 *   aborts every in-flight call's signal, waits for those calls to settle, calls the source iterator's
 *   `return()` (unless the source itself threw), then throws that first error. Later errors are dropped.
 *   A pull the source has not answered yet is not waited for: `return()` follows it in the background.
 * - Stopping early (`break`, or calling `return()`) cleans up the same way, without throwing.
 *
 * Throws ERR_INVALID_ARG at once when `concurrency` is not an integer >= 1, `fn` is not a function,
 * `signal` is not an AbortSignal or `source` is not iterable.
 */
export function mapConcurrent<T, R>(
  source: Source<T>,
  fn: MapFn<T, R>,
  options: MapConcurrentOptions,
): AsyncIterableIterator<Awaited<R>> {
  const concurrency = checkConcurrency(options?.concurrency);
  if (typeof fn !== 'function') throw invalidArg('fn must be a function');
  const signal = checkSignal(options.signal);
  if (options.ordered !== undefined && typeof options.ordered !== 'boolean') throw invalidArg('ordered must be a boolean');
  const iterator = openSource(source);
  return closingUnstarted(run(iterator, fn, concurrency, options.ordered ?? true, signal), iterator);
}

/**
 * `gen`, except that `return()` or `throw()` before the first `next()` also closes the source:
 * the generator's body, whose `finally` closes it, never runs then, and the source was opened
 * already (so that a non-iterable fails at the call).
 */
function closingUnstarted<T>(gen: AsyncGenerator<T>, iterator: AsyncIterator<unknown>): AsyncIterableIterator<T> {
  let started = false;
  const it: AsyncIterableIterator<T> = {
    next(...args: [] | [undefined]) {
      started = true;
      return gen.next(...args);
    },
    async return(value?: unknown) {
      if (!started) {
        started = true;
        await iterator.return?.();
      }
      return gen.return(value as T);
    },
    async throw(error?: unknown) {
      if (!started) {
        started = true;
        try {
          await iterator.return?.();
        } catch {
          // The error thrown in is the one to report.
        }
      }
      return gen.throw(error);
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}

async function* run<T, R>(
  iterator: AsyncIterator<T>,
  fn: MapFn<T, R>,
  concurrency: number,
  ordered: boolean,
  callerSignal: AbortSignal | undefined,
): AsyncGenerator<Awaited<R>> {
  const controller = new AbortController();
  const inFlight = new Set<Promise<void>>();
  // ordered: results by index; unordered: results in completion order.
  const byIndex = new Map<number, Awaited<R>>();
  const queue: Awaited<R>[] = [];
  let nextToYield = 0;
  let nextIndex = 0;
  let pulling: Promise<void> | undefined;
  let exhausted = false;
  let sourceThrew = false;
  let closed = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;

  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (error: unknown): void => {
    if (failure) return;
    failure = { error };
    controller.abort(error);
    notify();
  };
  const buffered = (): number => (ordered ? byIndex.size : queue.length);

  const launch = (item: T, index: number): void => {
    const call = (async (): Promise<Awaited<R>> => await fn(item, { index, signal: controller.signal }))().then(
      (value) => {
        if (failure || closed) return;
        if (ordered) byIndex.set(index, value);
        else queue.push(value);
      },
      fail,
    );
    const tracked = call.finally(() => {
      inFlight.delete(tracked);
      notify();
      pump();
    });
    inFlight.add(tracked);
  };

  // Pulls one item when a slot is free; re-runs itself after each pull, so at most one pull is pending.
  const pump = (): void => {
    if (pulling || exhausted || failure || closed) return;
    if (inFlight.size + buffered() >= concurrency) return;
    pulling = pullOne(iterator).then(
      (r) => {
        pulling = undefined;
        if (r.done) exhausted = true;
        else if (!failure && !closed) launch(r.value, nextIndex++);
        notify();
        pump();
      },
      (error: unknown) => {
        pulling = undefined;
        exhausted = true;
        sourceThrew = true;
        fail(error);
      },
    );
  };

  const stopListening = onAbort(callerSignal, () => fail(abortError(callerSignal)));
  try {
    pump();
    for (;;) {
      if (failure) throw failure.error;
      if (ordered && byIndex.has(nextToYield)) {
        const value = byIndex.get(nextToYield)!;
        byIndex.delete(nextToYield++);
        pump();
        yield value;
        continue;
      }
      if (!ordered && queue.length > 0) {
        const value = queue.shift()!;
        pump();
        yield value;
        continue;
      }
      if (exhausted && !pulling && inFlight.size === 0) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    closed = true;
    stopListening();
    // An early stop has no error of its own; abort with an AbortError so `fn` sees why.
    if (!controller.signal.aborted) controller.abort(abortError());
    await Promise.allSettled(inFlight);
    const pull = pulling;
    if (pull) {
      // The source is still working on an item. Waiting for it would tie the stop to the source's
      // pace (a consumer that waits for new messages could hold an abort forever), so nothing more is
      // taken from it and its return() is called, in the background, once that pull settles.
      void pull
        .then(() => {
          if (!exhausted && !sourceThrew) return iterator.return?.();
        })
        .catch(() => {});
    } else if (!exhausted && !sourceThrew) {
      try {
        await iterator.return?.();
      } catch (error) {
        // The first failure is the one worth reporting; a failing return() only surfaces on a clean stop.
        if (!failure) throw error;
      }
    }
  }
}
