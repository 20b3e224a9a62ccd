/**
 * Newline-delimited JSON: whole inputs, streams of chunks, and typed columns.
 * Lines end with LF (a CR before it is allowed); blank lines are skipped; line numbers are 1-based.
 */
import { native } from './native.js';
import { watchAbort } from './abort.js';
import { checkMode, offload, stats, errorFromTuple, type CallOptions, type NativeErrorTuple } from './runtime.js';
import { OffloopError, abortError, invalidArg, shown } from './errors.js';
import { checkSignal, openSource, pullOne } from './concurrency/shared.js';
import { buildInArrays, buildValues } from './json/build.js';
import { endsInOddBackslashes, excerptAt, inCallersText, pointerText, toBytes, wellFormed, withExcerpt, type JsonInput } from './json/input.js';
import { maxDepthOf } from './json/index.js';
import type { Tape } from './json/tape.js';

export type OnError = 'throw' | 'skip' | 'collect';

export interface NdjsonOptions extends CallOptions {
  /** What a bad line does: `'throw'` (default) rejects with its error; `'skip'` drops it; `'collect'` drops it and records the error in the result's `errors`. */
  onError?: OnError;
  maxDepth?: number;
}

export interface LineError {
  /** 1-based line number in the whole input (or stream). */
  line: number;
  error: OffloopError;
}

/** The parsed records, in input order; `errors` lists bad lines when `onError` is `'collect'`. */
export interface NdjsonRecords extends Array<unknown> {
  errors: LineError[];
}

const ON_ERROR: Record<OnError, number> = { throw: 0, skip: 1, collect: 2 };

function onErrorMode(options: NdjsonOptions | undefined): OnError {
  const m = options?.onError ?? 'throw';
  if (typeof m !== 'string' || !Object.hasOwn(ON_ERROR, m)) {
    throw invalidArg(`onError must be 'throw', 'skip' or 'collect', got ${shown(m)}`);
  }
  return m;
}

/** What the binding returns for a batch: the records' tape, bad lines, and the batch's line count. */
interface NativeBatch {
  tape: Tape;
  errors: NativeErrorTuple[];
  lines: number;
}

/** `continued`: a later batch of a stream (its first bytes do not start the text: no BOM is skipped). */
function submitBatch(bytes: Uint8Array, mode: OnError, depth: number, signal?: AbortSignal, continued = false): Promise<NativeBatch> {
  return offload<NativeBatch>(
    (id, c) => native.ndjsonParseSubmit(id, bytes, ON_ERROR[mode], depth, continued, c),
    bytes,
    signal,
  );
}

/**
 * A batch's error placed in the whole input: its line shifted by `firstLine - 1` (in the message
 * too) and its offset by `firstOffset`, with an excerpt of the batch's `bytes` around it.
 */
function placeError(err: unknown, bytes: Uint8Array, firstLine: number, firstOffset: number): unknown {
  if (!(err instanceof OffloopError) || err.offset === undefined) return err;
  const line = (err.line ?? 1) + firstLine - 1;
  const at = inCallersText(err, bytes);
  return new OffloopError(err.code, at.message.replace(/\bline (\d+)/, `line ${line}`), {
    offset: at.offset + firstOffset,
    line,
    column: at.column,
    excerpt: err.excerpt ?? excerptAt(bytes, err.offset),
  });
}

/** The bad lines of a native batch, placed in the whole input (see `placeError`). */
function batchErrors(batch: NativeBatch, bytes: Uint8Array, firstLine: number, firstOffset: number): LineError[] {
  return batch.errors.map((t) => {
    const error = placeError(errorFromTuple(t), bytes, firstLine, firstOffset) as OffloopError;
    return { line: error.line ?? firstLine, error };
  });
}

/** Turns a native batch into records, shifting its line numbers by `firstLine - 1`. */
async function finishBatch(
  batch: NativeBatch,
  bytes: Uint8Array,
  firstLine: number,
  mode: OnError,
  signal?: AbortSignal,
): Promise<NdjsonRecords> {
  const errors = batchErrors(batch, bytes, firstLine, 0);
  if (mode === 'throw' && errors.length > 0) throw errors[0]!.error;
  const records = (await buildValues(batch.tape, signal)) as NdjsonRecords;
  records.errors = mode === 'collect' ? errors : [];
  return records;
}

/** Parses every line of `input` on the pool. */
export async function parse(input: JsonInput, options?: NdjsonOptions): Promise<NdjsonRecords> {
  const bytes = toBytes(input);
  const mode = onErrorMode(options);
  const depth = maxDepthOf(options);
  checkMode(options);
  let batch: NativeBatch;
  try {
    batch = await submitBatch(bytes, mode, depth, options?.signal);
  } catch (err) {
    throw placeError(err, bytes, 1, 0);
  }
  return finishBatch(batch, bytes, 1, mode, options?.signal);
}

export interface StreamOptions extends NdjsonOptions {
  /** Bytes of complete lines gathered into one batch before it is parsed. Default 1 MiB. */
  batchBytes?: number;
  /** Batches parsed at once; reading the source pauses while this many are in flight. Default 2 x pool threads. */
  maxInFlight?: number;
  /**
   * Most records in one yielded array. Default 256: a parsed batch with more is handed out as
   * several arrays (its bad lines with the first), so a consumer holds at most this many records
   * at a time, whatever `batchBytes` is.
   */
  maxRecords?: number;
}

/**
 * The parts as one view: the part itself when there is one (no copy), unless it is a view of a
 * resizable ArrayBuffer, which the pool must not borrow (lib/runtime.ts): then a copy, so whether
 * a stream takes such chunks does not depend on how they fall into batches.
 */
function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && (parts[0]!.buffer as { resizable?: boolean }).resizable !== true) return parts[0]!;
  return Buffer.concat(parts, total);
}

/**
 * `pull`, or an AbortError as soon as `signal` aborts, whichever comes first. A promise and a
 * listener for each pull: one promise raced against every pull of a long stream would hold a
 * reaction, and with it the chunk, for each of them until the stream ends.
 */
function orAbort<T>(pull: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const stop = watchAbort(signal, () => reject(abortError(signal)));
    pull.then(
      (r) => {
        stop();
        resolve(r);
      },
      (e: unknown) => {
        stop();
        reject(e);
      },
    );
  });
}

/**
 * How many stream batches are on the pool at once, across every stream in the process: two per
 * pool thread keep every thread fed, and a batch's bytes are gathered only when it gets a slot, so
 * they are still in cache when it is parsed (without it, 64 streams with 4 batches each would
 * queue 256 gathered batches, 64 MB, on a 2-thread pool).
 * A slot is given back when the native parse finishes (never waiting on a consumer), so one stream
 * that is not read cannot hold up the others.
 */
const gate = {
  free: -1,
  waiting: [] as (() => void)[],
  acquire(): Promise<void> | undefined {
    if (this.free < 0) this.free = 2 * stats().threads;
    if (this.free > 0) {
      this.free--;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  },
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  },
};

/** What a stream batch settles to: its bytes, and its native result or the error that failed it. */
type GatedBatch = { bytes: Uint8Array; batch: NativeBatch; error?: undefined } | { bytes: Uint8Array; batch?: undefined; error: unknown };

/** A batch parsed once it gets a slot of the gate; its bytes are gathered then. Never rejects. */
async function gatedBatch(
  parts: Uint8Array[],
  total: number,
  mode: OnError,
  depth: number,
  signal: AbortSignal | undefined,
  continued: boolean,
): Promise<GatedBatch> {
  const wait = gate.acquire();
  if (wait) await wait;
  let bytes: Uint8Array = new Uint8Array(0);
  try {
    bytes = concat(parts, total);
    return { bytes, batch: await submitBatch(bytes, mode, depth, signal, continued) };
  } catch (error) {
    return { bytes, error };
  } finally {
    gate.release();
  }
}

/**
 * Parses an async iterable of chunks (a file or socket stream, a fetch body) as NDJSON. Records
 * split across chunks are joined; complete lines are gathered into batches that are parsed in
 * parallel, at most `maxInFlight` at a time, and yielded in input order as arrays of records.
 */
export async function* stream(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options?: StreamOptions,
): AsyncGenerator<NdjsonRecords, void, undefined> {
  if (typeof source === 'string' || ArrayBuffer.isView(source) || source instanceof ArrayBuffer) {
    // A Buffer is iterable too, but of numbers: say what to do instead of failing on its first byte.
    throw invalidArg(
      `source must be an iterable of chunks (a stream, a fetch body, an array of Buffers), got ${shown(source)}: for a whole document in memory use ndjson.parse(input), or pass [input]`,
    );
  }
  if (source === null || typeof source !== 'object') throw invalidArg(`source must be an async iterable of chunks, got ${shown(source)}`);
  const mode = onErrorMode(options);
  const depth = maxDepthOf(options);
  checkMode(options);
  const signal = checkSignal(options?.signal);
  const batchBytes = options?.batchBytes ?? 1 << 20;
  const maxInFlight = options?.maxInFlight ?? 2 * stats().threads;
  if (typeof batchBytes !== 'number' || !(batchBytes >= 1)) throw invalidArg(`batchBytes must be a number >= 1, got ${shown(batchBytes)}`);
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw invalidArg('maxInFlight must be an integer >= 1');
  const maxRecords = options?.maxRecords ?? 256;
  if (typeof maxRecords !== 'number' || !(maxRecords >= 1) || !(Number.isInteger(maxRecords) || maxRecords === Infinity)) {
    throw invalidArg(`maxRecords must be an integer >= 1 (or Infinity), got ${shown(maxRecords)}`);
  }

  const inFlight: Promise<GatedBatch>[] = [];
  // Where the oldest batch in flight starts in the stream, for its errors.
  let nextLine = 1;
  let nextOffset = 0;
  let parts: Uint8Array[] = [];
  let partsBytes = 0;
  // The pieces of the last, unfinished line: kept apart and joined once (by the batch's concat),
  // since joining them chunk by chunk made a long line's cost quadratic (a 32 MB line in 64 KiB
  // chunks: 6.5 s).
  let tail: Uint8Array[] = [];
  let tailBytes = 0;
  const flushTail = (): void => {
    parts.push(...tail);
    partsBytes += tailBytes;
    tail = [];
    tailBytes = 0;
  };

  let submitted = 0;
  const submit = (batchParts: Uint8Array[], total: number): void => {
    // A failed batch settles with its error, which is thrown when the batch's turn comes.
    inFlight.push(gatedBatch(batchParts, total, mode, depth, signal, submitted++ > 0));
  };
  // The oldest batch's records, in arrays of at most `maxRecords`. With many streams, what each
  // consumer holds while it waits for its next array is what every scavenge has to copy: a heap
  // snapshot of 64 streams with 256 KiB batches showed 64 whole batches (320 000 records) alive.
  async function* emitOldest(): AsyncGenerator<NdjsonRecords, void, undefined> {
    const { bytes, batch, error } = await inFlight.shift()!;
    if (!batch) throw placeError(error, bytes, nextLine, nextOffset);
    const errors = batchErrors(batch, bytes, nextLine, nextOffset);
    nextLine += batch.lines;
    nextOffset += bytes.length;
    if (mode === 'throw' && errors.length > 0) throw errors[0]!.error;
    let pending = mode === 'collect' ? errors : [];
    let yielded = false;
    for await (const values of buildInArrays(batch.tape, maxRecords, signal)) {
      const records = values as NdjsonRecords;
      records.errors = pending;
      pending = [];
      yielded = true;
      yield records;
    }
    if (!yielded) yield Object.assign([], { errors: pending }) as NdjsonRecords;
  }

  // A string chunk that ends in the first half of a surrogate pair: that half waits for the
  // next chunk, which may start with the second half. `odd`: everything before the text still to
  // be encoded ended in an odd run of backslashes (see `wellFormed`).
  let high = '';
  let odd = false;
  const textBytes = (text: string): Uint8Array => {
    const bytes = Buffer.from(wellFormed(text, odd), 'utf8');
    odd = endsInOddBackslashes(text, odd);
    return bytes;
  };
  if (signal?.aborted) throw abortError(signal);
  const chunks = openSource(source as AsyncIterable<Uint8Array | string>);
  // `pull`: the source's pending pull. An abort rejects at once even while the source has not
  // given its next chunk (a socket may be silent for minutes); the pull is then left behind.
  let pull: Promise<IteratorResult<Uint8Array | string>> | undefined;
  let done = false;
  try {
    for (;;) {
      pull = pullOne(chunks);
      const r = signal ? await orAbort(pull, signal) : await pull;
      pull = undefined;
      if (r.done) {
        done = true;
        break;
      }
      const raw = r.value;
      let chunk: Uint8Array;
      if (typeof raw === 'string') {
        let text = high + raw;
        high = '';
        const last = text.charCodeAt(text.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) {
          high = text.slice(-1);
          text = text.slice(0, -1);
        }
        chunk = textBytes(text);
      } else {
        if (!(raw instanceof Uint8Array)) throw invalidArg('stream chunks must be Uint8Array, Buffer or string');
        chunk = raw;
        if (high) {
          // The surrogate stays alone; it goes before the bytes, as its own (escaped) text.
          chunk = Buffer.concat([textBytes(high), raw]);
          high = '';
        }
        odd = endsInOddBackslashes(raw, odd);
      }
      const lastNewline = chunk.lastIndexOf(10);
      if (lastNewline < 0) {
        if (chunk.length > 0) {
          tail.push(chunk);
          tailBytes += chunk.length;
        }
        continue;
      }
      flushTail();
      parts.push(chunk.subarray(0, lastNewline + 1));
      partsBytes += lastNewline + 1;
      if (lastNewline + 1 < chunk.length) {
        tail.push(chunk.subarray(lastNewline + 1));
        tailBytes = chunk.length - lastNewline - 1;
      }
      if (partsBytes >= batchBytes) {
        submit(parts, partsBytes);
        parts = [];
        partsBytes = 0;
        while (inFlight.length >= maxInFlight) yield* emitOldest();
      }
    }
  } finally {
    if (!done) {
      // Stopped early (an error, an abort or the consumer's break): close the source, after its
      // pending pull if there is one, without waiting for that pull. A source that threw is not
      // closed (as with `for await`), and a failing close never hides the error that stopped us.
      const closeSource = async (): Promise<void> => {
        await chunks.return?.();
      };
      if (pull) void pull.then(closeSource, () => {}).catch(() => {});
      else await closeSource().catch(() => {});
    }
  }
  if (high) {
    const bytes = textBytes(high);
    tail.push(bytes);
    tailBytes += bytes.length;
  }
  flushTail();
  if (partsBytes > 0) submit(parts, partsBytes);
  while (inFlight.length > 0) yield* emitOldest();
}

export type ColumnType = 'f64' | 'f32' | 'i32' | 'bool' | 'string';

export interface ColumnSpec {
  /** JSON Pointer to the field inside each record, e.g. `/price` or `/seller/id`. */
  path: string;
  type: ColumnType;
}

export interface Columns {
  /** Number of records. */
  length: number;
  columns: Record<string, Float64Array | Float32Array | Int32Array | Uint8Array | string[]>;
  /** Per column, 1 where the record had a value of the right type, 0 where it was missing or null. */
  valid: Record<string, Uint8Array>;
  /** Bad lines (no row was emitted for them) when `onError` is `'collect'`; empty otherwise. */
  errors: LineError[];
}

const COLUMN_TYPES = new Set<ColumnType>(['f64', 'f32', 'i32', 'bool', 'string']);

/**
 * Extracts typed columns from NDJSON records without building the records: one pass per record,
 * only the fields asked for. Missing, null or mistyped values give 0 (or '') with valid = 0.
 * With `onError: 'skip'` or `'collect'` a bad line emits no row (and with `'collect'` its error is
 * in `errors`, with the line number of the whole input).
 */
export async function columns(
  input: JsonInput,
  spec: { fields: Record<string, ColumnSpec> },
  options?: NdjsonOptions,
): Promise<Columns> {
  const bytes = toBytes(input);
  const mode = onErrorMode(options);
  const depth = maxDepthOf(options);
  checkMode(options);
  if (spec === null || typeof spec !== 'object' || spec.fields === null || typeof spec.fields !== 'object' || Array.isArray(spec.fields)) {
    throw invalidArg(`columns() needs { fields: { name: { path, type } } }, got fields ${shown(spec?.fields)}`);
  }
  const names = Object.keys(spec.fields);
  const paths: string[] = [];
  const types: string[] = [];
  for (const n of names) {
    const f = spec.fields[n]!;
    if (typeof f?.path !== 'string') throw invalidArg(`field "${n}" needs a string path`);
    if (!COLUMN_TYPES.has(f.type)) throw invalidArg(`field "${n}": type must be one of f64, f32, i32, bool, string`);
    paths.push(pointerText(f.path, `field "${n}" path`));
    types.push(f.type);
  }
  const raw = await offload<{ length: number; columns: Columns['columns'][string][]; valid: Uint8Array[]; errors: NativeErrorTuple[] }>(
    (id, c) => native.ndjsonColumnsSubmit(id, bytes, paths, types, ON_ERROR[mode], depth, c),
    bytes,
    options?.signal,
  ).catch((err: unknown) => {
    // With 'throw' the first bad line rejects the job itself: give it the excerpt every other path has.
    throw withExcerpt(err, bytes);
  });
  if (mode === 'throw' && raw.errors.length > 0) throw withExcerpt(errorFromTuple(raw.errors[0]!), bytes);
  const errors: LineError[] =
    mode === 'collect'
      ? raw.errors.map((t) => {
          const error = withExcerpt(errorFromTuple(t), bytes) as OffloopError;
          return { line: error.line ?? 1, error };
        })
      : [];
  const out: Columns = { length: raw.length, columns: {}, valid: {}, errors };
  // Defined, not assigned, so a field named `__proto__` is a column like any other.
  const own = { writable: true, enumerable: true, configurable: true };
  names.forEach((n, i) => {
    Object.defineProperty(out.columns, n, { ...own, value: raw.columns[i]! });
    Object.defineProperty(out.valid, n, { ...own, value: raw.valid[i]! });
  });
  return out;
}
