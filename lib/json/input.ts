/** Turning user input into bytes, and parse errors into OffloopErrors with an excerpt. */
import { OffloopError, invalidArg, type OffloopErrorCode, shown } from '../errors.js';

export type JsonInput = Uint8Array | string;

/**
 * The UTF-8 bytes of `input`. A Uint8Array (a Buffer included) is used in place, not copied;
 * a string is encoded (one copy, on the calling thread).
 */
export function toBytes(input: unknown, name = 'input'): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (typeof input === 'string') return encodeText(input);
  if (input instanceof ArrayBuffer) {
    // A detached buffer reads as empty, and no view of it can be made.
    if (input.byteLength === 0 && isDetached(input)) {
      throw invalidArg(`${name} is a detached ArrayBuffer`);
    }
    return new Uint8Array(input);
  }
  throw invalidArg(`${name} must be a Uint8Array, Buffer, ArrayBuffer or string, got ${shown(input)}`);
}

/**
 * `text` with each lone surrogate written as a `\uXXXX` escape. UTF-8 cannot carry a lone
 * surrogate (`Buffer.from` would make it U+FFFD), but `JSON.parse` keeps one found inside a string,
 * and so does the parser for the escape; outside strings both are syntax errors. A surrogate that
 * follows an odd run of backslashes is an invalid escape for `JSON.parse`; it is left alone (it
 * becomes U+FFFD, still an invalid escape), not written as an escape the backslash would quote.
 * `oddBackslashes`: the text before `text` (an earlier chunk) ended in an odd run of backslashes.
 * Byte offsets in errors after an escaped surrogate are 3 larger than in the UTF-8 of the rest.
 */
export function wellFormed(text: string, oddBackslashes = false, escapes?: number[]): string {
  if ((text as unknown as { isWellFormed(): boolean }).isWellFormed()) return text;
  let out = '';
  let outBytes = 0;
  let from = 0;
  let odd = oddBackslashes;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) {
      odd = !odd;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        i++;
      } else if (!odd) {
        const before = text.slice(from, i);
        if (escapes !== undefined) {
          outBytes += Buffer.byteLength(before, 'utf8');
          escapes.push(outBytes);
          outBytes += 6;
        }
        out += `${before}\\u${c.toString(16)}`;
        from = i + 1;
      }
    }
    odd = false;
  }
  return out + text.slice(from);
}

/** For bytes encoded from a string with lone surrogates: where each `\\uXXXX` escape written for one starts. */
const surrogateEscapes = new WeakMap<Uint8Array, number[]>();

/** The UTF-8 of `text`, each lone surrogate written as an escape (see `wellFormed`). */
function encodeText(text: string): Uint8Array {
  const escapes: number[] = [];
  const bytes = Buffer.from(wellFormed(text, false, escapes), 'utf8');
  if (escapes.length > 0) surrogateEscapes.set(bytes, escapes);
  return bytes;
}

/**
 * A parse error's position in `bytes` as the caller's string counts it: an escape written for a
 * lone surrogate (6 bytes, 6 characters) is one character there, 3 bytes in its UTF-8 (U+FFFD),
 * so offsets after one are 3 less and columns 5 less. The message's position is rewritten too.
 */
export function inCallersText(err: OffloopError, bytes: Uint8Array): { offset: number; line?: number; column?: number; message: string } {
  const offset = err.offset!;
  const escapes = surrogateEscapes.get(bytes);
  if (escapes === undefined) return { offset, line: err.line, column: err.column, message: err.message };
  const lineStart = bytes.lastIndexOf(0x0a, offset - 1) + 1;
  let before = 0;
  let onLine = 0;
  for (const at of escapes) {
    if (at >= offset) break;
    before++;
    if (at >= lineStart) onLine++;
  }
  const fixed = offset - 3 * before;
  const column = err.column === undefined ? undefined : err.column - 5 * onLine;
  const message = err.message
    .replace(/line (\d+) column (\d+) \(offset (\d+)\)/, (_, l: string) => `line ${l} column ${column ?? ''} (offset ${fixed})`)
    .replace(/line (\d+), column (\d+)/, (_, l: string) => `line ${l}, column ${column ?? ''}`);
  return { offset: fixed, line: err.line, column, message };
}

/** Whether `text` (or bytes) ends in an odd run of backslashes; `before`: the same for what came before it. */
export function endsInOddBackslashes(text: string | Uint8Array, before: boolean): boolean {
  let n = 0;
  for (let i = text.length - 1; i >= 0; i--) {
    const c = typeof text === 'string' ? text.charCodeAt(i) : text[i];
    if (c !== 0x5c) return n % 2 === 1;
    n++;
  }
  return before !== (n % 2 === 1);
}

/** A JSON Pointer string, which must not hold a lone surrogate (it could not be matched exactly). */
export function pointerText(p: string, what: string): string {
  if (!(p as unknown as { isWellFormed(): boolean }).isWellFormed()) {
    throw invalidArg(`${what} holds a lone surrogate; keys can only be matched by well-formed text`);
  }
  return p;
}

/** Whether an empty ArrayBuffer is detached (a view of it cannot be made). */
function isDetached(buffer: ArrayBuffer): boolean {
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/** A short, printable piece of `bytes` around `offset`. */
export function excerptAt(bytes: Uint8Array, offset: number, radius = EXCERPT_RADIUS): string {
  const [start, end] = charWindow(bytes, Math.max(0, offset - radius), Math.min(bytes.length, offset + radius), offset);
  return excerptText(bytes.subarray(start, end), start > 0, end < bytes.length);
}

/**
 * `start..end` of `bytes` narrowed to whole UTF-8 characters, so an excerpt of valid text never
 * shows U+FFFD for a character cut at its edge: the start moves past continuation bytes (not past
 * `offset`; only when `trimStart`, i.e. the window does not begin the input), the end back to the
 * start of the character it would cut (not before `offset`). `bytes` may go on past `end`; the
 * byte there decides.
 */
export function charWindow(bytes: Uint8Array, start: number, end: number, offset: number, trimStart = start > 0): [number, number] {
  const continuation = (i: number): boolean => ((bytes[i] ?? 0) & 0xc0) === 0x80;
  while (trimStart && start < offset && continuation(start)) start++;
  while (end < bytes.length && end > offset && continuation(end)) end--;
  return [start, end];
}

/** Bytes each side of an error's offset that its excerpt shows. */
export const EXCERPT_RADIUS = 24;

/** An excerpt of `window`, with an ellipsis on each side where the input goes on. */
export function excerptText(window: Uint8Array, before: boolean, after: boolean): string {
  const text = Buffer.from(window.buffer, window.byteOffset, window.length)
    .toString('utf8')
    .replace(/[\u0000-\u001f]/g, ' ');
  return `${before ? '…' : ''}${text}${after ? '…' : ''}`;
}

/** Adds an input excerpt to a parse error that has a position. */
export function withExcerpt(err: unknown, bytes: Uint8Array): unknown {
  if (!(err instanceof OffloopError) || err.offset === undefined || err.excerpt !== undefined) return err;
  const at = inCallersText(err, bytes);
  return new OffloopError(err.code as OffloopErrorCode, at.message, {
    offset: at.offset,
    line: at.line,
    column: at.column,
    excerpt: excerptAt(bytes, err.offset),
  });
}
