/** `CommitWindow`: Kafka-style offset tracking with out-of-order completion and backpressure. */
import { abortError, invalidArg, shown } from '../errors.js';
import { checkConcurrency, checkSignal } from './shared.js';
import { OffsetRing } from './ring.js';
import { watchAbort } from '../abort.js';

function noop(): void {}

export interface CommitWindowOptions {
  /** Most unfinished (in-flight or failed) offsets at once; `begin` waits beyond that. Integer >= 1. */
  maxInFlight: number;
  /** The first offset that may be registered, and the initial `committable`. Default 0. */
  start?: number;
  /** Called synchronously, inside the `succeed`/`skip` that advanced it, with the new `committable`. */
  onCommit?: (committable: number) => void;
}

const IN_FLIGHT = 0;
const FAILED = 1;
const SUCCEEDED = 2;
const SKIPPED = 3;

interface Waiter {
  offset: number;
  resolve: () => void;
  reject: (error: unknown) => void;
  /** Stops waiting for the caller's signal. */
  stopWatching: () => void;
}

/**
 * Tracks which offsets of a partition are done so a consumer can commit safely while processing
 * messages concurrently. `committable` is one past the last offset of the longest run of registered
 * offsets, from `start`, that are all succeeded or skipped; offsets never registered (gaps, as in a
 * compacted topic) do not hold it back. Every operation is O(1) amortized (see `OffsetRing`).
 */
export class CommitWindow {
  readonly maxInFlight: number;
  readonly #ring = new OffsetRing();
  readonly #errors = new Map<number, unknown>();
  readonly #waiters: Waiter[] = [];
  readonly #onCommit: ((committable: number) => void) | undefined;
  #committable: number;
  /** Highest offset passed to `begin`, registered or still waiting; -Infinity before the first. */
  #lastBegun = Number.NEGATIVE_INFINITY;
  #inFlight = 0;

  constructor(options: CommitWindowOptions) {
    this.maxInFlight = checkConcurrency(options?.maxInFlight, 'maxInFlight');
    const start = options.start ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) throw invalidArg(`start must be a safe integer >= 0 (at most 2^53 - 1), got ${shown(start)}`);
    if (options.onCommit !== undefined && typeof options.onCommit !== 'function') throw invalidArg('onCommit must be a function');
    this.#committable = start;
    this.#onCommit = options.onCommit;
  }

  /** The offset to commit: every registered offset below it is succeeded or skipped. */
  get committable(): number {
    return this.#committable;
  }

  /** Offsets registered and being processed (not finished, not failed). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Failed offsets awaiting `retry` or `skip`, ascending. */
  get failed(): number[] {
    return [...this.#errors.keys()].sort((a, b) => a - b);
  }

  /** The error a failed offset was failed with, or undefined when it is not failed. */
  errorOf(offset: number): unknown {
    return this.#errors.get(offset);
  }

  /**
   * Registers `offset` (an integer greater than every offset begun before, and >= `start`) as in
   * flight. Registers at once when fewer than `maxInFlight` offsets are unfinished, else resolves
   * once one finishes (FIFO). Rejects with ERR_INVALID_ARG for a bad offset, and with an AbortError
   * if `signal` aborts while waiting; the offset is then not registered and counts as a gap.
   */
  async begin(offset: number, options: { signal?: AbortSignal } | null = {}): Promise<void> {
    if (options === null || typeof options !== 'object') throw invalidArg('options must be an object');
    if (!Number.isSafeInteger(offset) || offset < this.#committable || offset <= this.#lastBegun) {
      const after = this.#lastBegun === Number.NEGATIVE_INFINITY ? '' : ` and greater than the last begun (${this.#lastBegun})`;
      throw invalidArg(`offset ${shown(offset)} must be a safe integer >= ${this.#committable}${after}`);
    }
    const signal = checkSignal(options.signal);
    if (signal?.aborted) throw abortError(signal);
    this.#lastBegun = offset;
    if (this.#waiters.length === 0 && this.#unfinished() < this.maxInFlight) {
      this.#register(offset);
      return;
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        offset,
        resolve,
        reject,
        stopWatching: noop,
      };
      this.#waiters.push(waiter);
      if (signal) {
        waiter.stopWatching = watchAbort(signal, () => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(abortError(signal));
        });
      }
    });
  }

  /** Marks an in-flight offset done; may advance `committable`. */
  succeed(offset: number): void {
    const i = this.#find(offset, IN_FLIGHT, 'succeed');
    this.#ring.setState(i, SUCCEEDED);
    this.#inFlight--;
    this.#advance(i);
  }

  /** Marks an in-flight offset failed: it stays unfinished, holding back `committable`, until `retry` or `skip`. */
  fail(offset: number, error: unknown): void {
    const i = this.#find(offset, IN_FLIGHT, 'fail');
    this.#ring.setState(i, FAILED);
    this.#inFlight--;
    this.#errors.set(offset, error);
  }

  /** Puts a failed offset back in flight, to be processed again. */
  retry(offset: number): void {
    const i = this.#find(offset, FAILED, 'retry');
    this.#ring.setState(i, IN_FLIGHT);
    this.#inFlight++;
    this.#errors.delete(offset);
  }

  /** Gives up on a failed offset (dead-lettered): it counts as done; may advance `committable`. */
  skip(offset: number): void {
    const i = this.#find(offset, FAILED, 'skip');
    this.#ring.setState(i, SKIPPED);
    this.#errors.delete(offset);
    this.#advance(i);
  }

  #unfinished(): number {
    return this.#inFlight + this.#errors.size;
  }

  #register(offset: number): void {
    this.#ring.push(offset, IN_FLIGHT);
    this.#inFlight++;
  }

  #find(offset: number, expected: number, op: string): number {
    const i = this.#ring.indexOf(offset);
    const state = i < 0 ? -1 : this.#ring.stateAt(i);
    if (state !== expected) {
      const what = i < 0 ? 'not registered or already committed' : ['in flight', 'failed', 'succeeded', 'skipped'][state];
      throw invalidArg(`cannot ${op} offset ${String(offset)}: it is ${what}`);
    }
    return i;
  }

  /** After offset at ring position `i` finished: pops the done prefix, wakes waiters, reports a new committable. */
  #advance(i: number): void {
    this.#admit();
    if (i !== 0) return;
    const ring = this.#ring;
    let last = -1;
    while (ring.size > 0 && ring.stateAt(0) >= SUCCEEDED) {
      last = ring.offsetAt(0);
      ring.shift();
    }
    this.#committable = last + 1;
    this.#onCommit?.(this.#committable);
  }

  /** Registers waiting `begin`s, in order, while there is room. */
  #admit(): void {
    while (this.#waiters.length > 0 && this.#unfinished() < this.maxInFlight) {
      const w = this.#waiters.shift()!;
      w.stopWatching();
      this.#register(w.offset);
      w.resolve();
    }
  }
}
