/** Drives a TapeBuilder in time slices so no document blocks the event loop for long. */
import { TapeBuilder, type Tape } from './tape.js';
import { runtimeSettings } from '../runtime.js';
import { abortError } from '../errors.js';

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Builds every top-level value of `tape`, at most `sliceBudgetMs` of main-thread time per slice,
 * yielding to the event loop between slices. Returns the values in order.
 */
export async function buildValues(tape: Tape, signal?: AbortSignal, budgetMs?: number): Promise<unknown[]> {
  if (tape.tags.length === 0) return [];
  const budget = budgetMs ?? runtimeSettings().sliceBudgetMs;
  const builder = new TapeBuilder(tape);
  const out: unknown[] = [];
  let deadline = performance.now() + budget;
  for (;;) {
    while (!builder.run(deadline)) {
      await yieldToLoop();
      if (signal?.aborted) throw abortError(signal);
      deadline = performance.now() + budget;
    }
    out.push(builder.value);
    if (!builder.hasNext()) return out;
    builder.next();
  }
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
