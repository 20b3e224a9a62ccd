/** Every error offloop raises on purpose is an `OffloopError` with a stable `code`. */
export type OffloopErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_QUEUE_FULL'
  | 'ERR_NATIVE_PANIC'
  | 'ERR_JSON_SYNTAX'
  | 'ERR_JSON_DEPTH'
  | 'ERR_INVALID_UTF8'
  | 'ERR_IO'
  | 'ERR_INPUT_CHANGED'
  | 'ERR_NATIVE_LOAD';

export interface OffloopErrorDetails {
  /** Byte offset of a parse error in the input. */
  offset?: number;
  /** 1-based line of a parse error. */
  line?: number;
  /** 1-based column of a parse error, counted in characters (code points) of its line. */
  column?: number;
  /** A short piece of the input around a parse error. */
  excerpt?: string;
  cause?: unknown;
}

export class OffloopError extends Error {
  readonly code: OffloopErrorCode;
  readonly offset?: number;
  readonly line?: number;
  readonly column?: number;
  readonly excerpt?: string;

  constructor(code: OffloopErrorCode, message: string, details: OffloopErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'OffloopError';
    this.code = code;
    if (details.offset !== undefined) this.offset = details.offset;
    if (details.line !== undefined) this.line = details.line;
    if (details.column !== undefined) this.column = details.column;
    if (details.excerpt !== undefined) this.excerpt = details.excerpt;
  }
}

export function invalidArg(message: string): OffloopError {
  return new OffloopError('ERR_INVALID_ARG', message);
}

/** The error an aborted operation rejects with: a DOMException named "AbortError", as Node's own APIs use. */
export function abortError(signal?: AbortSignal): DOMException {
  const err = new DOMException('The operation was aborted', 'AbortError');
  if (signal?.reason !== undefined) (err as { cause?: unknown }).cause = signal.reason;
  return err;
}

/**
 * A short, safe description of a bad argument for an error message: strings quoted (so `'4'` does
 * not read as the number 4), objects by kind (never `String(obj)`, which can throw or call user
 * code).
 */
export function shown(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
    case 'bigint':
      return `${v}n`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    case 'object':
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'an Array';
      if (ArrayBuffer.isView(v)) {
        const name = String(Object.getPrototypeOf(v)?.constructor?.name ?? 'typed array');
        return `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`; // "an Int8Array", "a Uint8Array"
      }
      return 'an object';
    default:
      return String(v);
  }
}

/** `options[name]` as a boolean: false when absent; `ERR_INVALID_ARG` for a value of another type
 * (`{ exact: 'yes' }` used to mean false without a word). */
export function flagOf(options: object | undefined, name: string): boolean {
  const v = (options as Record<string, unknown> | undefined)?.[name];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw invalidArg(`options.${name} must be a boolean, got ${shown(v)}`);
  return v;
}
