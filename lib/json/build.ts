/** Drives a TapeBuilder in time slices so no document blocks the event loop for long. */
import { TapeBuilder, tapeArrays, type Tape } from './tape.js';
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
 * One budget for every build in the process. Builds that run back to back without the loop
 * getting in between (several parses whose tapes arrived in one batch of completions, or several
 * builds resumed in one check phase) share a *stretch*: the first to run opens it with a deadline,
 * the others run until that same deadline, and a build that finds it spent yields at once. Each
 * build keeping a budget of its own let N concurrent parses block the loop for N budgets (32
 * parses of 0.8 MB: a 112 ms stall, worse than `JSON.parse`'s 78). A stretch closes at the next
 * check phase (an immediate queued when it opens runs before the builds that yielded in it), so
 * the loop is held for at most about two budgets: one stretch where the completions arrive, one in
 * the check phase right after.
 */
let stretchOpen = false;
let stretchEnd = 0;
let stretchStart = 0;

/**
 * For the tests: when `record` is set, each stretch as `[opened, end of its last slice]`
 * (performance.now() times), so a test can take the GC pauses inside them off.
 */
export const stretchStats: { record: boolean; stretches: [number, number][] } = { record: false, stretches: [] };

function closeStretch(): void {
  stretchOpen = false;
}

/** Records the end of a slice in the open stretch (tests only). */
function sliceEnded(now: number): void {
  if (!stretchStats.record) return;
  const last = stretchStats.stretches[stretchStats.stretches.length - 1];
  if (last !== undefined && last[0] === stretchStart) last[1] = now;
  else stretchStats.stretches.push([stretchStart, now]);
}

/**
 * The deadline for a slice starting now: the open stretch's, or a new stretch's. `yieldedAt`: when
 * the build yielded before this slice (a new stretch then takes the gap off its budget, see
 * `sliceDeadline`); undefined for a build's first slice or the one after its consumer (a full one).
 */
function sharedDeadline(budget: number, yieldedAt: number | undefined): number {
  if (!stretchOpen) {
    stretchOpen = true;
    setImmediate(closeStretch);
    const now = performance.now();
    stretchStart = now;
    stretchEnd = yieldedAt === undefined ? now + budget : sliceDeadline(now, yieldedAt, budget);
  }
  return stretchEnd;
}

/** Waits until a slice may run (yielding while the open stretch is spent); returns its deadline. */
async function sliceTurn(budget: number, signal: AbortSignal | undefined, yieldedAt?: number): Promise<number> {
  for (;;) {
    const deadline = sharedDeadline(budget, yieldedAt);
    if (performance.now() < deadline) return deadline;
    yieldedAt = performance.now();
    await yieldToLoop();
    if (signal?.aborted) throw abortError(signal);
  }
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
  const arrays = tapeArrays(tape);
  if (arrays.tags.length === 0) return;
  const budget = budgetMs ?? runtimeSettings().sliceBudgetMs;
  const builder = new TapeBuilder(arrays);
  let out: unknown[] = [];
  let deadline = await sliceTurn(budget, signal);
  // Top-level values since the deadline was last read here: scalar records (NDJSON of numbers)
  // fill no container, so `run` never reads it for them.
  let values = 0;
  for (;;) {
    while (!builder.run(deadline)) {
      const end = performance.now();
      sliceEnded(end);
      await yieldToLoop();
      if (signal?.aborted) throw abortError(signal);
      deadline = await sliceTurn(budget, signal, end);
    }
    out.push(builder.value);
    const more = builder.hasNext();
    if (out.length >= max || !more) {
      sliceEnded(performance.now());
      yield out;
      out = [];
      // The consumer's time is its own (it may have awaited I/O): the next slice takes its turn
      // like any other, in the open stretch or a new one.
      deadline = await sliceTurn(budget, signal);
    }
    if (!more) return;
    builder.next();
    if ((++values & 255) === 0 && performance.now() > deadline) {
      const end = performance.now();
      sliceEnded(end);
      await yieldToLoop();
      if (signal?.aborted) throw abortError(signal);
      deadline = await sliceTurn(budget, signal, end);
    }
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
  const arrays = tapeArrays(tape);
  if (arrays.tags.length === 0) return [];
  const builder = new TapeBuilder(arrays);
  const out: unknown[] = [];
  for (;;) {
    builder.run(Infinity);
    out.push(builder.value);
    if (!builder.hasNext()) return out;
    builder.next();
  }
}
