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

/** A tape as the binding gives it: its arrays, or small tapes packed into one buffer (see
 * `tapeArrays`; one allocation instead of eleven, measured in docs/DESIGN.md). */
export type Tape = TapeArrays | ArrayBuffer;

/** A packed tape's sections: a header of 12 u32 (the element counts of the eleven sections),
 * then `numbers` (f64), the u32 sections, the byte sections; native/node/src/output.rs writes it. */
export function tapeArrays(tape: Tape): TapeArrays {
  if (!(tape instanceof ArrayBuffer)) return tape;
  const h = new Uint32Array(tape, 0, 12);
  let at = 48;
  const numbers = new Float64Array(tape, at, h[0]!);
  at += 8 * h[0]!;
  const words = (n: number): Uint32Array => {
    const v = new Uint32Array(tape, at, n);
    at += 4 * n;
    return v;
  };
  const counts = words(h[1]!);
  const keys = words(h[2]!);
  const strings = words(h[3]!);
  const starts = words(h[4]!);
  const shapes = words(h[5]!);
  const shapeKeys = words(h[6]!);
  const shapeStarts = words(h[7]!);
  const tags = new Uint8Array(tape, at, h[8]!);
  at += h[8]!;
  const bytes = Buffer.from(tape, at, h[9]!);
  at += h[9]!;
  const kinds = new Uint8Array(tape, at, h[10]!);
  return { tags, counts, keys, strings, numbers, bytes, starts, kinds, shapes, shapeKeys, shapeStarts };
}

/** Bytes of the reused buffer small tapes of synchronous builds are packed into. */
const SCRATCH_BYTES = 256 << 10;
let scratch: ArrayBuffer | undefined;

/**
 * The buffer a `...Sync` native parse packs a tape into when it fits (it returns the tape's length
 * then), reused by every such parse: a new ArrayBuffer per small tape cost more than the parse
 * (docs/DESIGN.md, session 16). Its tape must be built before the next native parse; builds run
 * no user code, so nothing can parse in between.
 */
export function scratchTape(): ArrayBuffer {
  scratch ??= new ArrayBuffer(SCRATCH_BYTES);
  return scratch;
}

/** The tape a native parse given `scratchTape()` returned, as a `Tape`: the scratch buffer when it
 * holds the tape (`raw` is its length), so built at once, or `keep`'s own copy of it. */
export function scratchResult(raw: Tape | number, keep: boolean): Tape {
  if (typeof raw !== 'number') return raw;
  return keep ? scratchTape().slice(0, raw) : scratchTape();
}

export interface TapeArrays {
  tags: Uint8Array;
  counts: Uint32Array;
  keys: Uint32Array;
  strings: Uint32Array;
  numbers: Float64Array;
  bytes: Buffer;
  starts: Uint32Array;
  kinds: Uint8Array;
  /** For each object, in order, its shape id. */
  shapes: Uint32Array;
  /** Shape `s`'s key ids are `shapeKeys[shapeStarts[s]..shapeStarts[s + 1]]`, in member order. */
  shapeKeys: Uint32Array;
  shapeStarts: Uint32Array;
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

/** Makes an object of one shape from its member values, in member order. */
type ObjectFactory = (values: unknown[]) => Record<string, unknown>;

/**
 * Compiled object literals, by key list, shared by every parse: a literal with fixed keys makes an
 * object in one step with in-object properties, more than twice as fast as adding keys one by one.
 * Bounded, since each entry is compiled code.
 */
const factories = new Map<string, ObjectFactory>();
const MAX_FACTORIES = 4096;
/** Objects with more keys than this are built key by key (maps keyed by ids rarely repeat a shape). */
const MAX_FACTORY_KEYS = 64;

/** Shapes whose key list is longer than this (as JSON text) are never compiled: the cache holds
 * its key strings for the life of the process, and untrusted documents choose the keys. */
const MAX_FACTORY_SIGNATURE = 1024;
/** False once `new Function` has failed: under `node --disallow-code-generation-from-strings` (or a
 * CSP that forbids it) every object is built key by key. */
let canCompile = true;

/** Tapes with at most this many entries count as small documents (see `factoryFor`). */
const SMALL_TAPE = 4096;
/** Key lists met once in a small tape and not compiled yet; bounded, cleared when full. */
const metOnce = new Set<string>();
const MAX_MET_ONCE = 1024;

/** Whether small tapes have met `signature` before; notes it if not. */
function metBefore(signature: string): boolean {
  if (metOnce.delete(signature)) return true;
  if (metOnce.size >= MAX_MET_ONCE) metOnce.clear();
  metOnce.add(signature);
  return false;
}

function compileFactory(keys: string[]): ObjectFactory | null {
  // `__proto__` must be a computed key: as a plain literal key it would set the prototype.
  const members = keys.map((k, i) => `${k === '__proto__' ? '["__proto__"]' : JSON.stringify(k)}:v[${i}]`);
  try {
    return new Function('v', `return {${members.join(',')}};`) as ObjectFactory;
  } catch {
    canCompile = false;
    return null;
  }
}

const objectPrototype = Object.prototype;

/**
 * Frame kinds: no open container (the next value is a root), an array filled in its level's reused
 * buffer, an object, an array of numbers filled in its level's number buffer, and a big array
 * filled in place. Arrays are built in reused buffers and copied out with `slice`, which makes an
 * array of exactly its length: a fresh `[]` grown by `push` takes 17 slots on its first push, so a
 * parse of short arrays (canada.json's coordinate pairs) held 2.1x the memory of `JSON.parse`'s
 * result. A number buffer only ever holds numbers, so its elements stay unboxed doubles and so do
 * its slices'.
 */
const NONE = -1;
const ARRAY = 0;
const OBJECT = 1;
const NUMBERS = 2;
const BIG = 3;
/** Arrays longer than this are built in place (one copy of a huge array at its end is a stall). */
const MAX_BUFFERED = 1 << 16;

/** `lists[level]`, made empty on first use. */
function bufferAt(lists: unknown[][], level: number): unknown[] {
  let b = lists[level];
  if (b === undefined) {
    b = [];
    lists[level] = b;
  }
  return b;
}

export class TapeBuilder {
  private readonly t: TapeArrays;
  private readonly table: (string | undefined)[];
  private readonly slices: FastSlices;
  /** Per shape: its factory, `null` to build key by key, `undefined` while undecided. */
  private readonly shapeFactory: (ObjectFactory | null | undefined)[];
  private readonly shapeSeen: Uint8Array;
  /** A small tape (`SMALL_TAPE`): its shapes may use factories other tapes made. */
  private readonly small: boolean;
  private tag = 0;
  private count = 0;
  private str = 0;
  private num = 0;
  private shape = 0;
  /**
   * The innermost open container, kept in fields between runs and in locals inside `run`: its kind,
   * its target (the array itself, or for an object a reused buffer of member values), its size, how
   * many members it has, and (objects) its shape. Enclosing containers wait on the `stack*` arrays.
   */
  private kind = NONE;
  private target: unknown[] = [];
  private size = 0;
  private filled = 0;
  private frameShape = 0;
  /** Enclosing containers as parallel arrays (no allocation per container), `depth` entries used. */
  private readonly stackKind: number[] = [];
  private readonly stackTarget: unknown[][] = [];
  private readonly stackSize: number[] = [];
  private readonly stackFilled: number[] = [];
  private readonly stackShape: number[] = [];
  private depth = 0;
  /** Values filled since the builder was made: the deadline is read every 2 048 of them, counted
   * across `run` calls, so a tape of many small values (NDJSON records) is sliced too. */
  private steps = 0;
  /** Reused member-value buffers, one per nesting depth, and number-only ones for arrays. */
  private readonly buffers: unknown[][] = [];
  private readonly numberBuffers: unknown[][] = [];
  private root: unknown = undefined;
  private done = false;

  constructor(packed: Tape) {
    const tape = tapeArrays(packed);
    this.t = tape;
    this.table = new Array<string | undefined>(tape.kinds.length);
    // Buffer's own slicers skip toString()'s argument handling; they exist on every Buffer.
    this.slices = tape.bytes as unknown as FastSlices;
    const shapes = tape.shapeStarts.length - 1;
    this.shapeFactory = new Array<ObjectFactory | null | undefined>(shapes);
    this.shapeSeen = new Uint8Array(shapes);
    this.small = tape.tags.length <= SMALL_TAPE;
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

  private keysOf(shape: number): string[] {
    const from = this.t.shapeStarts[shape]!;
    const to = this.t.shapeStarts[shape + 1]!;
    const out = new Array<string>(to - from);
    for (let i = from; i < to; i++) out[i - from] = this.text(this.t.shapeKeys[i]!);
    return out;
  }

  /**
   * The factory for a shape: compiled on its second sight in this tape (one-off shapes are not
   * worth compiling) or, in a small tape, on its first when the process has compiled it already
   * or met its key list in an earlier small tape: a service parsing many small documents of one
   * schema sees each shape once per document.
   */
  private factoryFor(shape: number): ObjectFactory | null {
    const known = this.shapeFactory[shape];
    if (known !== undefined) return known;
    const first = this.shapeSeen[shape] === 0;
    if (first) {
      this.shapeSeen[shape] = 1;
      if (!this.small) return null;
    }
    const size = this.t.shapeStarts[shape + 1]! - this.t.shapeStarts[shape]!;
    let f: ObjectFactory | null = null;
    if (size <= MAX_FACTORY_KEYS && canCompile) {
      const keys = this.keysOf(shape);
      const signature = JSON.stringify(keys);
      if (signature.length <= MAX_FACTORY_SIGNATURE) {
        f = factories.get(signature) ?? null;
        if (f === null && first && !metBefore(signature)) return null;
        if (f === null && factories.size < MAX_FACTORIES) {
          f = compileFactory(keys);
          if (f !== null) factories.set(signature, f);
        }
      }
    }
    this.shapeFactory[shape] = f;
    return f;
  }

  private makeObject(shape: number, values: unknown[], n: number): Record<string, unknown> {
    const factory = this.factoryFor(shape);
    if (factory !== null) return factory(values);
    const obj: Record<string, unknown> = {};
    const from = this.t.shapeStarts[shape]!;
    for (let i = 0; i < n; i++) {
      const k = this.text(this.t.shapeKeys[from + i]!);
      if (k in objectPrototype) {
        // JSON.parse defines own data properties. Assigning a key that Object.prototype has would
        // set the prototype ("__proto__"), call an accessor someone defined there, or throw where
        // the prototype is frozen ("toString"); a key it lacks is a plain own property either way.
        Object.defineProperty(obj, k, { value: values[i], writable: true, enumerable: true, configurable: true });
      } else {
        obj[k] = values[i];
      }
    }
    return obj;
  }

  /** The reused buffer of nesting level `level`. */
  private buffer(level: number): unknown[] {
    return bufferAt(this.buffers, level);
  }

  /** The reused number-only buffer of nesting level `level` (never given anything else). */
  private numberBuffer(level: number): unknown[] {
    return bufferAt(this.numberBuffers, level);
  }

  run(deadline: number): boolean {
    if (this.done) return true;
    const { tags, counts, strings, numbers, shapes } = this.t;
    const { stackKind, stackTarget, stackSize, stackFilled, stackShape } = this;
    let depth = this.depth;
    let kind = this.kind;
    let target = this.target;
    let size = this.size;
    let filled = this.filled;
    let shape = this.frameShape;
    let steps = this.steps;
    for (;;) {
      let v: unknown;
      if (kind !== NONE && filled === size) {
        v = kind === OBJECT ? this.makeObject(shape, target, size) : kind === BIG ? target : target.slice(0, size);
        if (depth === 0) {
          kind = NONE;
        } else {
          depth--;
          kind = stackKind[depth]!;
          target = stackTarget[depth]!;
          size = stackSize[depth]!;
          filled = stackFilled[depth]!;
          shape = stackShape[depth]!;
        }
      } else {
        switch (tags[this.tag++]) {
          case Tag.Null:
            v = null;
            break;
          case Tag.False:
            v = false;
            break;
          case Tag.True:
            v = true;
            break;
          case Tag.Missing:
            v = undefined;
            break;
          case Tag.Number:
            v = numbers[this.num++];
            break;
          case Tag.String:
            v = this.text(strings[this.str++]!);
            break;
          case Tag.Array: {
            const n = counts[this.count++]!;
            if (n === 0) {
              v = [];
              break;
            }
            if (kind !== NONE) {
              stackKind[depth] = kind;
              stackTarget[depth] = target;
              stackSize[depth] = size;
              stackFilled[depth] = filled;
              stackShape[depth] = shape;
              depth++;
            }
            const level = kind === NONE ? 0 : depth;
            if (n > MAX_BUFFERED) {
              kind = BIG;
              target = [];
            } else if (tags[this.tag] === Tag.Number) {
              kind = NUMBERS;
              target = this.numberBuffer(level);
            } else {
              kind = ARRAY;
              target = this.buffer(level);
            }
            size = n;
            filled = 0;
            continue;
          }
          case Tag.Object: {
            const n = counts[this.count++]!;
            const s = shapes[this.shape++]!;
            if (n === 0) {
              v = {};
              break;
            }
            if (kind !== NONE) {
              stackKind[depth] = kind;
              stackTarget[depth] = target;
              stackSize[depth] = size;
              stackFilled[depth] = filled;
              stackShape[depth] = shape;
              depth++;
            }
            const level = kind === NONE ? 0 : depth;
            kind = OBJECT;
            target = this.buffer(level);
            size = n;
            filled = 0;
            shape = s;
            continue;
          }
          default:
            throw new Error(`offloop: corrupt tape (tag ${String(tags[this.tag - 1])} at ${this.tag - 1})`);
        }
      }
      if (kind === NONE) {
        this.root = v;
        this.done = true;
        this.kind = NONE;
        this.depth = 0;
        this.steps = steps;
        return true;
      }
      if (kind === BIG) {
        target.push(v);
      } else if (kind !== NUMBERS || typeof v === 'number') {
        target[filled] = v;
      } else {
        // The first non-number in an array that began with numbers: go on in the general buffer.
        const general = this.buffer(depth);
        for (let i = 0; i < filled; i++) general[i] = target[i];
        kind = ARRAY;
        target = general;
        target[filled] = v;
      }
      filled++;
      if ((++steps & 2047) === 0 && performance.now() > deadline) {
        this.steps = steps;
        this.kind = kind;
        this.target = target;
        this.size = size;
        this.filled = filled;
        this.frameShape = shape;
        this.depth = depth;
        return false;
      }
    }
  }
}
