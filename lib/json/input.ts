/** Turning user input into bytes, and parse errors into OffloopErrors with an excerpt. */
import { OffloopError, invalidArg, type OffloopErrorCode } from '../errors.js';

export type JsonInput = Uint8Array | string;

/**
 * The UTF-8 bytes of `input`. A Uint8Array (a Buffer included) is used in place, not copied;
 * a string is encoded (one copy, on the calling thread).
 */
export function toBytes(input: unknown, name = 'input'): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  const got = input === null ? 'null' : Array.isArray(input) ? 'an Array' : typeof input;
  throw invalidArg(`${name} must be a Uint8Array, Buffer, ArrayBuffer or string, got ${got}`);
}

/** A short, printable piece of `bytes` around `offset`. */
export function excerptAt(bytes: Uint8Array, offset: number, radius = 24): string {
  const start = Math.max(0, offset - radius);
  const end = Math.min(bytes.length, offset + radius);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start)
    .toString('utf8')
    .replace(/[\u0000-\u001f]/g, ' ');
  return `${start > 0 ? '…' : ''}${text}${end < bytes.length ? '…' : ''}`;
}

/** Adds an input excerpt to a parse error that has a position. */
export function withExcerpt(err: unknown, bytes: Uint8Array): unknown {
  if (!(err instanceof OffloopError) || err.offset === undefined || err.excerpt !== undefined) return err;
  return new OffloopError(err.code as OffloopErrorCode, err.message, {
    offset: err.offset,
    line: err.line,
    column: err.column,
    excerpt: excerptAt(bytes, err.offset),
  });
}
