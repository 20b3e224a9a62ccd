/** Drives a TapeBuilder in time slices so no document blocks the event loop for long. */
import { TapeBuilder, type Tape } from './tape.js';
import { runtimeSettings } from '../runtime.js';
import { abortError } from '../errors.js';

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The least a slice builds for, so a document always makes progress. */
const MIN_SLICE_MS = 0.25;

/**
 * The deadline of a slice that starts at `now` when the previous one ended at `lastEnd`. A yield
 * normally comes back within a fraction of a millisecond; a longer gap means the loop was busy
 * (most often a V8 scavenge task of 5-15 ms, which Node runs just before the immediates), and a
 * full slice straight after it would add up to one long stall. The slice gets what is left of
 * the budget after the gap, at least MIN_SLICE_MS, so the loop is blocked for about
 * max(gap, budget) instead of gap + budget; the timers that waited run after this short slice.
 */
function sliceDeadline(now: number, lastEnd: number, budget: number): number {
  const gap = now - lastEnd;
  return now + Math.max(MIN_SLICE_MS, Math.min(budget, budget - gap));
}

/**
 * Builds the top-level values of `tape` in order and yields them in arrays of at most `max`
 * values, at most `sliceBudgetMs` of main-thread time per slice, yielding to the event loop
 * between slices. Nothing is yielded for an empty tape.
 */
export async function* buildInArrays(
  tape: Tape,
  max: number,
  signal?: AbortSignal,
  budgetMs?: number,
): AsyncGenerator<unknown[], void, undefined> {
  if (tape.tags.length === 0) return;
  const budget = budgetMs ?? runtimeSettings().sliceBudgetMs;
  const builder = new TapeBuilder(tape);
  let out: unknown[] = [];
  let deadline = performance.now() + budget;
  for (;;) {
    while (!builder.run(deadline)) {
      const end = performance.now();
      await yieldToLoop();
      if (signal?.aborted) throw abortError(signal);
      deadline = sliceDeadline(performance.now(), end, budget);
    }
    out.push(builder.value);
    const more = builder.hasNext();
    if (out.length >= max || !more) {
      yield out;
      out = [];
      // The consumer's time is not a held loop (it may have awaited I/O): a full slice.
      deadline = performance.now() + budget;
    }
    if (!more) return;
    builder.next();
  }
}

/** Builds every top-level value of `tape` in slices (see `buildInArrays`); returns them in order. */
export async function buildValues(tape: Tape, signal?: AbortSignal, budgetMs?: number): Promise<unknown[]> {
  let all: unknown[] = [];
  for await (const values of buildInArrays(tape, Infinity, signal, budgetMs)) all = values;
  return all;
}

/** Builds the single value of `tape` in slices. */
export async function buildValue(tape: Tape, signal?: AbortSignal, budgetMs?: number): Promise<unknown> {
  return (await buildValues(tape, signal, budgetMs))[0];
}

/** Builds every top-level value at once, on the calling thread (for the Sync functions). */
export function buildValuesSync(tape: Tape): unknown[] {
  if (tape.tags.length === 0) return [];
  const builder = new TapeBuilder(tape);
  const out: unknown[] = [];
  for (;;) {
    builder.run(Infinity);
    out.push(builder.value);
    if (!builder.hasNext()) return out;
    builder.next();
  }
}
