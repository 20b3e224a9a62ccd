/** Drives a TapeBuilder in time slices so no document blocks the event loop for long. */
import { TapeBuilder, tapeArrays, type Tape } from './tape.js';
import { runtimeSettings } from '../runtime.js';
import { abortError } from '../errors.js';

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
 * the others run until that same deadline. Each build keeping a budget of its own let N concurrent
 * parses block the loop for N budgets (32 parses of 0.8 MB: a 112 ms stall, worse than
 * `JSON.parse`'s 78). A stretch closes at the next check phase, so the loop is held for at most
 * about two budgets: one stretch where the completions arrive, one in the check phase right after.
 *
 * Builds take turns in one FIFO queue. At most one build holds the turn (it runs its slice
 * synchronously, then releases); a release hands the turn to the next waiter while the stretch
 * lasts, and once it is spent one immediate (the *pump*) opens the next stretch in the next check
 * phase. Each waiting build polling with an immediate of its own made every loop turn cost one
 * callback per waiter: 16 000 concurrent parses of tiny documents took 6 s and held the loop for
 * 0.5 s at a time.
 *
 * Invariant: while the queue is not empty, a build holds the turn or the pump is scheduled.
 */
let stretchOpen = false;
let stretchEnd = 0;
let stretchStart = 0;
/** Whether a build holds the turn (granted, not yet released). */
let holder = false;
let pumpScheduled = false;
/** When the pump was scheduled: the loop was let go then (see `sliceDeadline`). */
let pumpAt = 0;

interface Waiter {
  budget: number;
  grant: (deadline: number) => void;
  fail: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** FIFO of waiting builds: `queue[head..]` are waiting (the consumed front is dropped in bulk). */
let queue: Waiter[] = [];
let head = 0;

/**
 * For the tests: when `record` is set, each stretch as `[opened, end of its last slice]`
 * (performance.now() times), so a test can take the GC pauses inside them off; `maxWaiting` is
 * the longest the queue of waiting builds has been.
 */
export const stretchStats: { record: boolean; stretches: [number, number][]; maxWaiting: number } = {
  record: false,
  stretches: [],
  maxWaiting: 0,
};

/** Builds waiting for the turn (tests). */
export function waitingBuilds(): number {
  return queue.length - head;
}

function closeStretch(): void {
  stretchOpen = false;
}

function openStretch(now: number, end: number): void {
  stretchOpen = true;
  setImmediate(closeStretch);
  stretchStart = now;
  stretchEnd = end;
}

/** Records the end of a slice in the open stretch (tests only). */
function sliceEnded(now: number): void {
  if (!stretchStats.record) return;
  const last = stretchStats.stretches[stretchStats.stretches.length - 1];
  if (last !== undefined && last[0] === stretchStart) last[1] = now;
  else stretchStats.stretches.push([stretchStart, now]);
}

function ensurePump(): void {
  if (pumpScheduled) return;
  pumpScheduled = true;
  pumpAt = performance.now();
  setImmediate(pump);
}

function shiftWaiter(): Waiter | undefined {
  if (head >= queue.length) return undefined;
  const w = queue[head];
  queue[head++] = undefined as unknown as Waiter;
  if (head >= queue.length) {
    queue = [];
    head = 0;
  } else if (head > 1024 && head * 2 > queue.length) {
    queue = queue.slice(head);
    head = 0;
  }
  return w;
}

/** Gives the turn to the next waiter (it runs in a microtask, until `deadline`). */
function grantNext(deadline: number): boolean {
  const w = shiftWaiter();
  if (w === undefined) return false;
  holder = true;
  if (w.onAbort !== undefined) w.signal!.removeEventListener('abort', w.onAbort);
  w.grant(deadline);
  return true;
}

/** The check-phase immediate: opens a new stretch for the first waiter. */
function pump(): void {
  pumpScheduled = false;
  // A build granted in a microtask still holds the turn: its release goes on from there.
  if (holder || head >= queue.length) return;
  const now = performance.now();
  const budget = queue[head]!.budget;
  openStretch(now, sliceDeadline(now, pumpAt, budget));
  grantNext(stretchEnd);
}

/** Ends the holder's turn: the next waiter runs in the same stretch while it lasts. */
function release(): void {
  holder = false;
  if (head >= queue.length) return;
  if (stretchOpen && performance.now() < stretchEnd) grantNext(stretchEnd);
  else ensurePump();
}

/** Queues a build for the turn; resolves with its slice's deadline once it holds the turn. */
function wait(budget: number, signal: AbortSignal | undefined): Promise<number> {
  return new Promise<number>((grant, fail) => {
    const w: Waiter = { budget, grant, fail, signal, onAbort: undefined };
    if (signal !== undefined) {
      w.onAbort = () => {
        const i = queue.indexOf(w, head);
        if (i < 0) return;
        queue.splice(i, 1);
        fail(abortError(signal));
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
    }
    queue.push(w);
    const waiting = queue.length - head;
    if (waiting > stretchStats.maxWaiting) stretchStats.maxWaiting = waiting;
    if (!holder) ensurePump();
  });
}

/**
 * Takes the turn for a build's first slice, or its first after its consumer ran (a full budget):
 * at once when no one holds or waits for it and the stretch has time left (a new one opens if
 * none is open), else behind the waiters. The caller holds the turn once this resolves and must
 * `release` it.
 */
function acquire(budget: number, signal: AbortSignal | undefined): Promise<number> | number {
  if (!holder && head >= queue.length) {
    const now = performance.now();
    if (!stretchOpen) openStretch(now, now + budget);
    if (now < stretchEnd) {
      holder = true;
      return stretchEnd;
    }
  }
  return wait(budget, signal);
}

/** Ends a slice whose time ran out: releases the turn and waits for the next one. */
function yieldTurn(budget: number, signal: AbortSignal | undefined): Promise<number> {
  release();
  const p = wait(budget, signal);
  // The stretch is spent: the next slice must come after the loop has run.
  ensurePump();
  return p;
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
  const budget = budgetMs ?? runtimeSettings().sliceBudgetMs;
  let out: unknown[] = [];
  // Whether this build holds the turn: every way out of the loop below releases it.
  let held = false;
  try {
    // The turn first: thousands of builds starting at once (many small parses resolved in one
    // turn) wait without unpacking their tapes.
    let deadline = await acquire(budget, signal);
    held = true;
    if (signal?.aborted) throw abortError(signal);
    const arrays = tapeArrays(tape);
    if (arrays.tags.length === 0) return;
    const builder = new TapeBuilder(arrays);
    // Top-level values since the deadline was last read here: scalar records (NDJSON of numbers)
    // fill no container, so `run` never reads it for them.
    let values = 0;
    for (;;) {
      while (!builder.run(deadline)) {
        sliceEnded(performance.now());
        held = false;
        deadline = await yieldTurn(budget, signal);
        held = true;
        if (signal?.aborted) throw abortError(signal);
      }
      out.push(builder.value);
      const more = builder.hasNext();
      if (out.length >= max || !more) {
        sliceEnded(performance.now());
        held = false;
        release();
        yield out;
        if (!more) return;
        out = [];
        // The consumer's time is its own (it may have awaited I/O): the next slice takes its turn
        // like any other, in the open stretch or a new one.
        deadline = await acquire(budget, signal);
        held = true;
        if (signal?.aborted) throw abortError(signal);
      }
      builder.next();
      if ((++values & 255) === 0 && performance.now() > deadline) {
        sliceEnded(performance.now());
        held = false;
        deadline = await yieldTurn(budget, signal);
        held = true;
        if (signal?.aborted) throw abortError(signal);
      }
    }
  } finally {
    if (held) release();
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
