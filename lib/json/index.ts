/**
 * JSON off the event loop: parse in native threads, then build only what the caller asked for on
 * the JS thread, in slices of at most `sliceBudgetMs`.
 */
import { native } from '../native.js';
import { callNative, checkMode, dispatch, errorFromTuple, offload, runInline, runsInline, type CallOptions, type NativeErrorTuple } from '../runtime.js';
import { OffloopError, invalidArg, shown } from '../errors.js';
import { estimateUs } from '../cost.js';
import { buildValue, buildValues, buildValuesSync } from './build.js';
import { EXCERPT_RADIUS, charWindow, excerptText, pointerText, toBytes, withExcerpt, type JsonInput } from './input.js';
import { constants, open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { scratchResult, scratchTape, tapeArrays, type Tape } from './tape.js';

export type { JsonInput } from './input.js';

export interface JsonOptions extends CallOptions {
  /** Deepest nesting of arrays and objects accepted; deeper input fails with `ERR_JSON_DEPTH`. Default 10 000. */
  maxDepth?: number;
}

export const DEFAULT_MAX_DEPTH = 10_000;

export function maxDepthOf(options: { maxDepth?: number } | undefined): number {
  const d = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(d) || d < 1 || d > 1_000_000) {
    throw invalidArg(`maxDepth must be an integer between 1 and 1 000 000, got ${shown(d)}`);
  }
  return d;
}

/** Runs a native tape-producing operation and builds its values in slices. */
async function tapeOp(
  bytes: Uint8Array,
  options: JsonOptions | undefined,
  estimateOp: 'jsonParse' | 'jsonSelect',
  inline: () => Tape | number,
  start: (id: number, cancellable: boolean) => void,
): Promise<unknown[]> {
  let tape: Tape;
  try {
    if (runsInline(options, estimateUs(estimateOp, bytes.length), bytes)) {
      const raw = runInline(inline);
      // A document small enough to parse inline whose tape is tiny too is built at once, as part of
      // the call: its build costs less than taking a turn (16 000 concurrent parses of tiny
      // documents spent as long again in promise hops as in the native calls). A tape in the
      // scratch buffer that is built later, in turns, gets its own copy first.
      const arrays = tapeArrays(scratchResult(raw, false));
      if (arrays.tags.length <= SYNC_BUILD_ENTRIES) return buildValuesSync(arrays);
      tape = scratchResult(raw, true);
    } else {
      tape = await offload<Tape>(start, bytes, options?.signal);
    }
  } catch (err) {
    throw withExcerpt(err, bytes);
  }
  return buildValues(tape, options?.signal);
}

/** The most tape entries a build done at once within an inline call may have (about 20 us). */
const SYNC_BUILD_ENTRIES = 64;

/**
 * Parses JSON text into a value deep-equal to `JSON.parse`'s: same key order, duplicate keys last
 * wins, `__proto__` an own property, same doubles, lone surrogates kept.
 * The parse runs on the pool; the value is built on the JS thread in slices.
 */
export async function parse(input: JsonInput, options?: JsonOptions): Promise<unknown> {
  const bytes = toBytes(input);
  const depth = maxDepthOf(options);
  const values = await tapeOp(
    bytes,
    options,
    'jsonParse',
    () => native.jsonParseSync(bytes, depth, scratchTape()),
    (id, c) => native.jsonParseSubmit(id, bytes, depth, c),
  );
  return values[0];
}

/** Parses on the calling thread and builds the value at once. */
export function parseSync(input: JsonInput, options?: Pick<JsonOptions, 'maxDepth'>): unknown {
  const bytes = toBytes(input);
  const depth = maxDepthOf(options);
  try {
    return buildValuesSync(scratchResult(callNative(() => native.jsonParseSync(bytes, depth, scratchTape())), false))[0];
  } catch (err) {
    throw withExcerpt(err, bytes);
  }
}

/** Reads and parses a file on the pool; its bytes never enter the JS heap. */
export async function parseFile(file: string | URL, options?: JsonOptions): Promise<unknown> {
  const path = filePath(file);
  const depth = maxDepthOf(options);
  checkMode(options);
  let tape: Tape;
  try {
    tape = await offload<Tape>((id, c) => native.jsonParseFileSubmit(id, path, depth, c), undefined, options?.signal);
  } catch (err) {
    throw await withFileExcerpt(err, path);
  }
  return buildValue(tape, options?.signal);
}

/** `parseFile`'s path: a non-empty string, or a `file:` URL (as `fs` takes them). */
function filePath(file: unknown): string {
  if (file instanceof URL) {
    if (file.protocol !== 'file:') throw invalidArg(`path must be a file: URL, got ${shown(file.href)}`);
    try {
      return fileURLToPath(file);
    } catch (err) {
      throw invalidArg(`path ${shown(file.href)} is not a usable file URL: ${(err as Error).message}`);
    }
  }
  if (typeof file !== 'string' || file.length === 0) throw invalidArg(`path must be a non-empty string or a file: URL, got ${shown(file)}`);
  if (file.includes('\0')) throw invalidArg('path must not contain NUL characters');
  return file;
}

/**
 * A parse error of `parseFile` with the excerpt every other entry point gives: the file's bytes
 * never came to JS, so the few around the error are read now (the error as it is if that fails).
 */
async function withFileExcerpt(err: unknown, path: string): Promise<unknown> {
  if (!(err instanceof OffloopError) || err.offset === undefined || err.excerpt !== undefined) return err;
  try {
    // Non-blocking, and regular files only: opening a FIFO again would wait for a new writer.
    const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!(await file.stat()).isFile()) return err;
      const start = Math.max(0, err.offset - EXCERPT_RADIUS);
      const end = err.offset + EXCERPT_RADIUS;
      // One byte past the excerpt tells whether the file goes on.
      const window = Buffer.alloc(end - start + 1);
      const { bytesRead } = await file.read(window, 0, window.length, start);
      const read = window.subarray(0, bytesRead);
      // Offsets in `read` are file offsets less `start`.
      const [lo, to] = charWindow(read, 0, Math.min(bytesRead, end - start), err.offset - start, start > 0);
      return new OffloopError(err.code, err.message, {
        offset: err.offset,
        line: err.line,
        column: err.column,
        excerpt: excerptText(read.subarray(lo, to), start + lo > 0, bytesRead > to),
      });
    } finally {
      await file.close();
    }
  } catch {
    return err;
  }
}

export type ValidateResult = { valid: true } | { valid: false; error: OffloopError };

/** Checks `input` is valid JSON without building anything. Never throws for bad JSON. */
export async function validate(input: JsonInput, options?: JsonOptions): Promise<ValidateResult> {
  const bytes = toBytes(input);
  const depth = maxDepthOf(options);
  try {
    await dispatch(
      options,
      estimateUs('jsonValidate', bytes.length),
      () => native.jsonValidateSync(bytes, depth),
      (id, c) => native.jsonValidateSubmit(id, bytes, depth, c),
      bytes,
    );
    return { valid: true };
  } catch (err) {
    const isVerdict =
      err instanceof OffloopError &&
      (err.code === 'ERR_JSON_SYNTAX' || err.code === 'ERR_JSON_DEPTH' || err.code === 'ERR_INVALID_UTF8');
    if (isVerdict) {
      return { valid: false, error: withExcerpt(err, bytes) as OffloopError };
    }
    throw err;
  }
}

/**
 * Extracts values by JSON Pointer (RFC 6901), where a `*` segment means every element of an
 * array: `{ ids: '/statuses/*\/id' }`. Only the selected values are built. A path that matches
 * nothing gives `undefined`; a path with `*` gives an array.
 */
export async function select(
  input: JsonInput,
  selectors: Record<string, string>,
  options?: JsonOptions,
): Promise<Record<string, unknown>> {
  const bytes = toBytes(input);
  const depth = maxDepthOf(options);
  if (selectors === null || typeof selectors !== 'object') throw invalidArg('selectors must be an object of name: pointer');
  const names = Object.keys(selectors);
  const pointers = names.map((n) => {
    const p = selectors[n];
    if (typeof p !== 'string') throw invalidArg(`selector "${n}" must be a string JSON Pointer`);
    return pointerText(p, `selector "${n}"`);
  });
  const values = await tapeOp(
    bytes,
    options,
    'jsonSelect',
    () => native.jsonSelectSync(bytes, pointers, depth),
    (id, c) => native.jsonSelectSubmit(id, bytes, pointers, depth, c),
  );
  const out: Record<string, unknown> = {};
  names.forEach((n, i) => {
    Object.defineProperty(out, n, { value: values[i], writable: true, enumerable: true, configurable: true });
  });
  return out;
}

export interface ParseManyResult {
  /** Parsed values at their input's index; a hole where that input failed. */
  values: unknown[];
  /** Every failure, with its input's index; parse errors carry offset, line and column. */
  errors: { index: number; error: OffloopError }[];
}

/** Parses many documents in parallel across the pool; one failure does not stop the others. */
export async function parseMany(inputs: Iterable<JsonInput>, options?: JsonOptions): Promise<ParseManyResult> {
  if (inputs === null || typeof (inputs as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
    throw invalidArg(`inputs must be an iterable of Uint8Array or string, got ${shown(inputs)}`);
  }
  // One document is iterable too (a string by character, a Buffer by byte): say what was meant.
  if (typeof inputs === 'string' || ArrayBuffer.isView(inputs)) {
    throw invalidArg(
      `inputs must be a list of documents, got one ${typeof inputs === 'string' ? 'string' : 'buffer'}; use json.parse(input) for one document, or json.parseMany([input])`,
    );
  }
  const list = Array.from(inputs, (x, i) => toBytes(x, `inputs[${i}]`));
  const depth = maxDepthOf(options);
  checkMode(options);
  // Each entry is a tape, or an error tuple for a document that failed.
  const results = await offload<(Tape | OffloopError)[]>(
    (id, c) => native.jsonParseManySubmit(id, list, depth, c),
    list,
    options?.signal,
    (raw) => (raw as unknown[]).map((r) => (Array.isArray(r) ? (errorFromTuple(r as NativeErrorTuple) as OffloopError) : (r as Tape))),
  );
  const values: unknown[] = new Array(list.length);
  const errors: ParseManyResult['errors'] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (r instanceof OffloopError) {
      errors.push({ index: i, error: withExcerpt(r, list[i]!) as OffloopError });
    } else {
      values[i] = await buildValue(r, options?.signal);
    }
  }
  return { values, errors };
}
