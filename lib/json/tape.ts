/**
 * Building JS values from the native parser's tape, on the JS thread, in time slices.
 *
 * The tape (made by the Rust core, handed over without copying) is a pre-order walk of the
 * document split into typed columns, so the builder does no parsing at all:
 * - `tags`: one byte per value (see `Tag`);
 * - `counts`: for each array or object, in order, its element or member count;
 * - `keys`: for each object member, in order, the id of its key in the string table;
 * - `strings`: for each string value, in order, its id in the string table;
 * - `numbers`: each number, in order, already a double;
 * - the string table: unique strings' UTF-8 bytes in `bytes`, id i spans `starts[i]..starts[i+1]`,
 *   `kinds[i]` says how to decode it (ASCII, UTF-8, or WTF-8 when it holds a lone surrogate).
 * Repeated keys and repeated short values share one id, so each becomes a JS string once.
 */

export const enum Tag {
  Null = 0,
  False = 1,
  True = 2,
  Number = 3,
  String = 4,
  Array = 5,
  Object = 6,
  /** Only in `select` results: the pointer matched nothing (JS: `undefined`). */
  Missing = 7,
}

export const enum StringKind {
  Ascii = 0,
  Utf8 = 1,
  /** UTF-8 extended with encoded surrogate code points: JSON's lone `\ud800` escapes. */
  Wtf8 = 2,
}

export interface Tape {
  tags: Uint8Array;
  counts: Uint32Array;
  keys: Uint32Array;
  strings: Uint32Array;
  numbers: Float64Array;
  bytes: Buffer;
  starts: Uint32Array;
  kinds: Uint8Array;
}

/** Decodes WTF-8 (UTF-8 that may encode surrogate code points) into a JS string, surrogates kept. */
function decodeWtf8(b: Buffer, start: number, end: number): string {
  let out = '';
  let i = start;
  while (i < end) {
    const c = b[i]!;
    let cp: number;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if (c < 0xe0) {
      cp = ((c & 0x1f) << 6) | (b[i + 1]! & 0x3f);
      i += 2;
    } else if (c < 0xf0) {
      cp = ((c & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f);
      i += 3;
    } else {
      cp = ((c & 0x07) << 18) | ((b[i + 1]! & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f);
      i += 4;
    }
    out += String.fromCodePoint(cp);
  }
  return out;
}

interface FastSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/**
 * Walks a tape; `run(deadline)` builds until done (true) or until the deadline passes (false).
 * A tape may hold several top-level values (NDJSON records, select results): `next()` starts the
 * following one after `run` finished the current.
 */
export class TapeBuilder {
  private readonly t: Tape;
  private readonly table: (string | undefined)[];
  private readonly slices: FastSlices;
  private tag = 0;
  private count = 0;
  private key = 0;
  private str = 0;
  private num = 0;
  /** Open containers: the object or array, members left, and the key its value will be stored under. */
  private readonly targets: (unknown[] | Record<string, unknown>)[] = [];
  private readonly remaining: number[] = [];
  private readonly pendingKeys: string[] = [];
  private root: unknown = undefined;
  private done = false;

  constructor(tape: Tape) {
    this.t = tape;
    this.table = new Array<string | undefined>(tape.kinds.length);
    // Buffer's own slicers skip toString()'s argument handling; they exist on every Buffer.
    this.slices = tape.bytes as unknown as FastSlices;
  }

  get value(): unknown {
    return this.root;
  }

  /** Whether the tape holds another top-level value after the one just built. */
  hasNext(): boolean {
    return this.tag < this.t.tags.length;
  }

  /** Starts building the next top-level value. */
  next(): void {
    this.root = undefined;
    this.done = false;
  }

  private text(id: number): string {
    const cached = this.table[id];
    if (cached !== undefined) return cached;
    const start = this.t.starts[id]!;
    const end = this.t.starts[id + 1]!;
    const kind = this.t.kinds[id]!;
    const s =
      kind === StringKind.Ascii
        ? this.slices.latin1Slice(start, end)
        : kind === StringKind.Utf8
          ? this.slices.utf8Slice(start, end)
          : decodeWtf8(this.t.bytes, start, end);
    this.table[id] = s;
    return s;
  }

  /** Stores `v` in the innermost open container (or as the root). */
  private place(v: unknown): void {
    const depth = this.targets.length;
    if (depth === 0) {
      this.root = v;
      this.done = true;
      return;
    }
    const target = this.targets[depth - 1]!;
    if (Array.isArray(target)) {
      target.push(v);
    } else {
      const k = this.pendingKeys[depth - 1]!;
      if (k === '__proto__') {
        // JSON.parse makes "__proto__" an own data property; plain assignment would set the prototype.
        Object.defineProperty(target, k, { value: v, writable: true, enumerable: true, configurable: true });
      } else {
        target[k] = v;
      }
    }
    this.remaining[depth - 1]!--;
  }

  run(deadline: number): boolean {
    const { tags, counts, keys, strings, numbers } = this.t;
    let steps = 0;
    while (!this.done) {
      const depth = this.targets.length;
      if (depth > 0) {
        if (this.remaining[depth - 1] === 0) {
          const finished = this.targets.pop();
          this.remaining.pop();
          this.pendingKeys.pop();
          this.place(finished);
          continue;
        }
        if (!Array.isArray(this.targets[depth - 1])) this.pendingKeys[depth - 1] = this.text(keys[this.key++]!);
      }
      switch (tags[this.tag++]) {
        case Tag.Null:
          this.place(null);
          break;
        case Tag.False:
          this.place(false);
          break;
        case Tag.True:
          this.place(true);
          break;
        case Tag.Missing:
          this.place(undefined);
          break;
        case Tag.Number:
          this.place(numbers[this.num++]);
          break;
        case Tag.String:
          this.place(this.text(strings[this.str++]!));
          break;
        case Tag.Array:
        case Tag.Object: {
          const isArray = tags[this.tag - 1] === Tag.Array;
          const n = counts[this.count++]!;
          const container: unknown[] | Record<string, unknown> = isArray ? [] : {};
          if (n === 0) {
            this.place(container);
          } else {
            this.targets.push(container);
            this.remaining.push(n);
            this.pendingKeys.push('');
          }
          break;
        }
        default:
          throw new Error(`offloop: corrupt tape (tag ${String(tags[this.tag - 1])} at ${this.tag - 1})`);
      }
      if ((++steps & 2047) === 0 && performance.now() > deadline) return this.done;
    }
    return true;
  }
}
