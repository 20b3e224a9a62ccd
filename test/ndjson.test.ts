import { describe, it, expect } from 'vitest';
import { isDeepStrictEqual } from 'node:util';
import { Readable } from 'node:stream';
import { json, ndjson, OffloopError, stats } from '../lib/index.js';
import { stretchStats } from '../lib/json/build.js';
import { corpus, hasCorpus } from './helpers/corpus.js';
import { seeded } from './helpers/random.js';

function lines(text: string): unknown[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

/** Splits `buf` into chunks of random sizes (1..max bytes). */
function chunked(buf: Buffer, seed: number, max: number): Buffer[] {
  const r = seeded(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; ) {
    const n = 1 + Math.floor(r() * max);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

const synthetic = Buffer.from(
  Array.from({ length: 5000 }, (_, i) =>
    JSON.stringify({ id: i, name: `n${i % 37} é`, price: i % 11 === 0 ? null : i * 1.25, ok: i % 3 === 0, nested: { v: i % 7 } }),
  ).join('\n') + '\n',
);

describe('ndjson.parse', () => {
  it.runIf(hasCorpus)('deep-equals JSON.parse per line on the corpus file', async () => {
    const b = corpus('ndjson/amazon_cellphones.ndjson');
    const got = await ndjson.parse(b);
    expect(isDeepStrictEqual([...got], lines(b.toString()))).toBe(true);
    expect(got.errors).toEqual([]);
  });

  it.runIf(hasCorpus)('streams the corpus file in small chunks to the same records', async () => {
    const b = corpus('ndjson/amazon_cellphones.ndjson');
    const got: unknown[] = [];
    for await (const batch of ndjson.stream(Readable.from(chunked(b, 11, 5000)), { batchBytes: 20_000 })) got.push(...batch);
    expect(isDeepStrictEqual(got, lines(b.toString()))).toBe(true);
  });

  it('handles CRLF, blank lines and a last line without LF', async () => {
    const got = await ndjson.parse('{"a":1}\r\n\n  \n[2]\r\n"three"');
    expect([...got]).toEqual([{ a: 1 }, [2], 'three']);
  });

  it('onError: throw gives the 1-based line number', async () => {
    const err = (await ndjson.parse('1\n2\n{"x":\n4\n').catch((e: unknown) => e)) as OffloopError;
    expect(err.code).toBe('ERR_JSON_SYNTAX');
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/line 3/);
  });

  it('onError: skip and collect drop bad lines; collect reports each', async () => {
    const text = '1\n{bad\n3\n[4,\n\n"six"\n';
    expect([...(await ndjson.parse(text, { onError: 'skip' }))]).toEqual([1, 3, 'six']);
    const collected = await ndjson.parse(text, { onError: 'collect' });
    expect([...collected]).toEqual([1, 3, 'six']);
    expect(collected.errors.map((e) => e.line)).toEqual([2, 4]);
    expect(collected.errors.every((e) => e.error instanceof OffloopError && e.error.line === e.line)).toBe(true);
  });

  it('parses a large input across the pool, in order', async () => {
    const got = await ndjson.parse(synthetic);
    expect(isDeepStrictEqual([...got], lines(synthetic.toString()))).toBe(true);
  });

  it('builds many small records in slices, yielding to the loop, and sees an abort between them', async () => {
    // Until session 13 a record of fewer than 2 048 values never read the slice deadline (the
    // count restarted with each record), so all records were built in one block: 200-290 ms for
    // 200 000 records, during which timers and aborts waited.
    const small = Buffer.from(Array.from({ length: 300_000 }, (_, i) => `{"id":${i},"t":["a",${i % 7}]}`).join('\n'));
    const scalars = Buffer.from(Array.from({ length: 600_000 }, (_, i) => String(i)).join('\n'));
    for (const input of [small, scalars]) {
      await ndjson.parse(input); // compiled once
      stretchStats.stretches = [];
      stretchStats.record = true;
      const got = await ndjson.parse(input);
      stretchStats.record = false;
      expect(got.length).toBe(input === small ? 300_000 : 600_000);
      // Each stretch is one slice budget of builder work (4 ms) with the loop's turn after it;
      // the whole build is tens of milliseconds here or more.
      const work = stretchStats.stretches.reduce((t, [a, b]) => t + b - a, 0);
      expect(stretchStats.stretches.length).toBeGreaterThan(Math.min(5, work / 8));
    }
    const ac = new AbortController();
    const pending = ndjson.parse(Buffer.concat([small, Buffer.from('\n'), small, Buffer.from('\n'), small]), { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    expect(((await pending.catch((e: unknown) => e)) as Error).name).toBe('AbortError');
  });
});

describe('ndjson.stream', () => {
  it('joins records split across chunk boundaries and yields in order', async () => {
    const want = lines(synthetic.toString());
    for (const [seed, max] of [
      [1, 7],
      [2, 300],
      [3, 70_000],
    ] as const) {
      const got: unknown[] = [];
      for await (const batch of ndjson.stream(Readable.from(chunked(synthetic, seed, max)), { batchBytes: 8 * 1024 })) {
        got.push(...batch);
      }
      expect(isDeepStrictEqual(got, want)).toBe(true);
    }
  });

  it('numbers lines across batches in errors', async () => {
    const text = Array.from({ length: 400 }, (_, i) => (i === 250 ? '{oops' : JSON.stringify({ i }))).join('\n');
    const batches: { n: number; errors: number[] }[] = [];
    for await (const b of ndjson.stream([Buffer.from(text)], { batchBytes: 512, onError: 'collect' })) {
      batches.push({ n: b.length, errors: b.errors.map((e) => e.line) });
    }
    expect(batches.reduce((a, b) => a + b.n, 0)).toBe(399);
    expect(batches.flatMap((b) => b.errors)).toEqual([251]);
    const err = await (async () => {
      for await (const _ of ndjson.stream([Buffer.from(text)], { batchBytes: 512 })) void _;
    })().catch((e: unknown) => e);
    expect((err as OffloopError).line).toBe(251);
  });

  it('places errors in the whole stream when it comes in several batches', async () => {
    // Three batches: '1\n2\n', '3\n{x\n', '5\n'; the bad record is line 4, at stream offset 7.
    const chunks = ['1\n2\n', '3\n{x\n', '5\n'];
    const collected: { line: number; offset?: number; excerpt?: string; message: string }[] = [];
    for await (const b of ndjson.stream(chunks, { batchBytes: 1, onError: 'collect' })) {
      for (const e of b.errors) collected.push({ line: e.line, offset: e.error.offset, excerpt: e.error.excerpt, message: e.error.message });
    }
    expect(collected).toHaveLength(1);
    expect(collected[0]).toMatchObject({ line: 4, offset: 7 });
    expect(collected[0]!.message).toContain('line 4');
    expect(collected[0]!.excerpt).toContain('{x');
    const thrown = (await (async () => {
      for await (const _ of ndjson.stream(chunks, { batchBytes: 1 })) void _;
    })().catch((e: unknown) => e)) as OffloopError;
    expect(thrown).toBeInstanceOf(OffloopError);
    expect(thrown.code).toBe('ERR_JSON_SYNTAX');
    expect(thrown.line).toBe(4);
    expect(thrown.offset).toBe(7);
    expect(thrown.message).toContain('line 4');
    expect(thrown.excerpt).toContain('{x');
    // The whole input at once gives the same place.
    const whole = (await ndjson.parse(chunks.join('')).catch((e: unknown) => e)) as OffloopError;
    expect([whole.line, whole.offset, whole.excerpt !== undefined]).toEqual([4, 7, true]);
  });

  it('hands a large batch out in arrays of at most maxRecords, its bad lines with the first', async () => {
    const text = Array.from({ length: 2_500 }, (_, i) => (i === 1_800 ? '{bad' : JSON.stringify({ i }))).join('\n');
    const arrays: { n: number; errors: number[] }[] = [];
    const got: unknown[] = [];
    for await (const b of ndjson.stream([Buffer.from(text)], { batchBytes: 1 << 20, maxRecords: 1_000, onError: 'collect' })) {
      arrays.push({ n: b.length, errors: b.errors.map((e) => e.line) });
      got.push(...b);
    }
    expect(arrays).toEqual([
      { n: 1_000, errors: [1_801] },
      { n: 1_000, errors: [] },
      { n: 499, errors: [] },
    ]);
    expect(got).toEqual(Array.from({ length: 2_500 }, (_, i) => ({ i })).filter((r) => r.i !== 1_800));
    const bad = ndjson.stream([Buffer.from(text)], { maxRecords: 0 })[Symbol.asyncIterator]().next();
    await expect(bad).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('pauses reading the source while maxInFlight batches are parsing', async () => {
    let pulled = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 50; i++) {
        pulled++;
        yield Buffer.from(`${JSON.stringify({ i, pad: 'x'.repeat(100) })}\n`);
      }
    }
    const it = ndjson.stream(source(), { batchBytes: 1, maxInFlight: 2 })[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    // One batch was yielded, so at most maxInFlight more were read.
    expect(pulled).toBeLessThanOrEqual(4);
    await it.return?.(undefined);
  });

  it('an abort rejects at once while the source is silent, and the source is closed after', async () => {
    let closed = false;
    async function* silent(): AsyncGenerator<Buffer> {
      try {
        yield Buffer.from('{"a":1}\n');
        await new Promise((r) => setTimeout(r, 1500));
        yield Buffer.from('{"a":2}\n');
      } finally {
        closed = true;
      }
    }
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = performance.now();
    const got: unknown[] = [];
    await expect(
      (async () => {
        for await (const records of ndjson.stream(silent(), { signal: ac.signal })) got.push(...records);
      })(),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(got).toEqual([]);
    await new Promise((r) => setTimeout(r, 1700));
    expect(closed).toBe(true);
    // An already-aborted signal rejects even for an empty source.
    await expect(
      (async () => {
        for await (const _ of ndjson.stream([], { signal: AbortSignal.abort() })) void _;
      })(),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('counts error columns in characters on every path, as json.parse does', async () => {
    const bad = '["éééé", x]';
    const text = `1\n${bad}\n`;
    const want = ((await json.parse(bad).catch((e: unknown) => e)) as OffloopError).column;
    expect(want).toBe(10);
    const cols: (number | undefined)[] = [];
    const thrown = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => (e as OffloopError).column);
    cols.push(await thrown(ndjson.parse(text)));
    cols.push((await ndjson.parse(text, { onError: 'collect' })).errors[0]?.error.column);
    for await (const batch of ndjson.stream([Buffer.from(text)], { onError: 'collect' })) cols.push(...batch.errors.map((e) => e.error.column));
    const fields = { a: { path: '/a', type: 'f64' as const } };
    cols.push(await thrown(ndjson.columns(text, { fields })));
    cols.push((await ndjson.columns(text, { fields }, { onError: 'collect' })).errors?.[0]?.error.column);
    expect(cols).toEqual([10, 10, 10, 10, 10]);
  });

  it('skips a byte-order mark only at the start of the stream, whatever the batching', async () => {
    const text = '\ufeff{"a":1}\n\ufeff{"a":2}\n{"a":3}\n';
    const whole = await ndjson.parse(text, { onError: 'collect' });
    expect([...whole]).toEqual([{ a: 1 }, { a: 3 }]);
    expect(whole.errors.map((e) => e.line)).toEqual([2]);
    for (const batchBytes of [1, 12, 1 << 20]) {
      const chunks = [Buffer.from('\ufeff{"a":1}\n'), Buffer.from('\ufeff{"a":2}\n'), Buffer.from('{"a":3}\n')];
      const records: unknown[] = [];
      const lines: number[] = [];
      for await (const batch of ndjson.stream(chunks, { onError: 'collect', batchBytes })) {
        records.push(...batch);
        lines.push(...batch.errors.map((e) => e.line));
      }
      expect(records, `batchBytes ${batchBytes}`).toEqual([{ a: 1 }, { a: 3 }]);
      expect(lines).toEqual([2]);
    }
  });

  it('a long line in many chunks costs linear time', async () => {
    // 32 MB in 16 KiB chunks: joining the partial line chunk by chunk copied about 32 GB.
    const line = JSON.stringify({ s: 'y'.repeat(32 << 20) }) + '\n';
    const bytes = Buffer.from(line);
    const chunks = function* () {
      for (let i = 0; i < bytes.length; i += 16 << 10) yield bytes.subarray(i, i + (16 << 10));
    };
    const t0 = performance.now();
    const out: unknown[] = [];
    for await (const records of ndjson.stream(chunks())) out.push(...records);
    expect(performance.now() - t0).toBeLessThan(4000);
    expect(out).toEqual([JSON.parse(line)]);
  });
});

describe('ndjson.columns', () => {
  it("onError: 'throw' rejects with the first bad line's error, worded and excerpted as ndjson.parse's", async () => {
    // Line 2 has a syntax error and line 3 an invalid UTF-8 byte: until session 13 columns
    // reported line 3's, without an excerpt and in the whole-document wording.
    const input = Buffer.concat([Buffer.from('{"a":1}\n{"a":1,}\n{"a":"'), Buffer.from([0xff]), Buffer.from('"}\n')]);
    const fields = { a: { path: '/a', type: 'f64' as const } };
    const theirs = (await ndjson.parse(input).catch((e: unknown) => e)) as OffloopError;
    const ours = (await ndjson.columns(input, { fields }).catch((e: unknown) => e)) as OffloopError;
    expect(ours).toBeInstanceOf(OffloopError);
    expect([ours.code, ours.line, ours.column, ours.offset]).toEqual(['ERR_JSON_SYNTAX', 2, 8, 15]);
    expect([ours.code, ours.line, ours.column, ours.offset, ours.message, ours.excerpt]).toEqual([
      theirs.code,
      theirs.line,
      theirs.column,
      theirs.offset,
      theirs.message,
      theirs.excerpt,
    ]);
  });

  it('extracts typed columns with validity masks', async () => {
    const text = [
      '{"id": 1, "price": 2.5, "ok": true, "name": "a", "n": {"v": 7}}',
      '{"id": 2, "price": null, "ok": false, "name": "b"}',
      '{"id": "3", "ok": 1, "name": "a", "n": {"v": 1.5}}',
      '',
      '{"id": 4, "price": 1e3, "ok": true, "name": "\\u00e9\\ud800"}',
    ].join('\n');
    const c = await ndjson.columns(text, {
      fields: {
        id: { path: '/id', type: 'i32' },
        price: { path: '/price', type: 'f64' },
        price32: { path: '/price', type: 'f32' },
        ok: { path: '/ok', type: 'bool' },
        name: { path: '/name', type: 'string' },
        v: { path: '/n/v', type: 'i32' },
      },
    });
    expect(c.length).toBe(4);
    expect([...(c.columns.id as Int32Array)]).toEqual([1, 2, 0, 4]);
    expect([...c.valid.id!]).toEqual([1, 1, 0, 1]);
    expect([...c.valid.price!]).toEqual([1, 0, 0, 1]);
    expect((c.columns.price as Float64Array)[0]).toBe(2.5);
    expect((c.columns.price as Float64Array)[3]).toBe(1000);
    expect(c.columns.price32).toBeInstanceOf(Float32Array);
    expect([...(c.columns.ok as Uint8Array)]).toEqual([1, 0, 0, 1]);
    expect([...c.valid.ok!]).toEqual([1, 1, 0, 1]);
    expect(c.columns.name).toEqual(['a', 'b', 'a', 'é\ud800']);
    expect([...c.valid.v!]).toEqual([1, 0, 0, 0]);
  });

  it('matches JSON.parse per line on a large input', async () => {
    const c = await ndjson.columns(synthetic, {
      fields: { id: { path: '/id', type: 'f64' }, name: { path: '/name', type: 'string' }, v: { path: '/nested/v', type: 'i32' } },
    });
    const want = lines(synthetic.toString()) as { id: number; name: string; nested: { v: number } }[];
    expect(c.length).toBe(want.length);
    expect([...(c.columns.id as Float64Array)]).toEqual(want.map((r) => r.id));
    expect(c.columns.name).toEqual(want.map((r) => r.name));
    expect([...(c.columns.v as Int32Array)]).toEqual(want.map((r) => r.nested.v));
  });

  it('rejects bad specs and bad lines', async () => {
    const bad = await ndjson.columns('{}', { fields: { a: { path: '/a', type: 'f16' as never } } }).catch((e: unknown) => e);
    expect((bad as OffloopError).code).toBe('ERR_INVALID_ARG');
    // fields as an array of specs used to give zero columns without a word.
    await expect(ndjson.columns('{}', { fields: [{ path: '/a', type: 'f64' }] as never })).rejects.toThrowError(/got fields an Array/);
    const syntax = (await ndjson.columns('{"a":1}\n{"a":\n', { fields: { a: { path: '/a', type: 'f64' } } }).catch((e: unknown) => e)) as OffloopError;
    expect(syntax.code).toBe('ERR_JSON_SYNTAX');
    expect(syntax.line).toBe(2);
  });

  const withBadLines = ['{"a": 1, "s": "x"}', '{"a": 2, "s": ', '', '{"a": 3, "s": "\\q"}', '{"a": 4, "s": "y"}', '[1, 2'].join('\n');
  const abFields = { fields: { a: { path: '/a', type: 'f64' as const }, s: { path: '/s', type: 'string' as const } } };

  it('skips bad lines without emitting rows', async () => {
    const c = await ndjson.columns(withBadLines, abFields, { onError: 'skip' });
    expect(c.length).toBe(2);
    expect([...(c.columns.a as Float64Array)]).toEqual([1, 4]);
    expect(c.columns.s).toEqual(['x', 'y']);
    expect([...c.valid.a!]).toEqual([1, 1]);
    expect(c.errors).toEqual([]);
  });

  it('collects bad lines with their line numbers', async () => {
    const c = await ndjson.columns(withBadLines, abFields, { onError: 'collect' });
    expect(c.length).toBe(2);
    expect([...(c.columns.a as Float64Array)]).toEqual([1, 4]);
    expect(c.errors.map((e) => e.line)).toEqual([2, 4, 6]);
    for (const { line, error } of c.errors) {
      expect(error).toBeInstanceOf(OffloopError);
      expect(error.code).toBe('ERR_JSON_SYNTAX');
      expect(error.line).toBe(line);
      expect(error.message).toContain(`line ${line}`);
    }
    const thrown = (await ndjson.columns(withBadLines, abFields).catch((e: unknown) => e)) as OffloopError;
    expect(thrown.line).toBe(2);
    const clean = await ndjson.columns('{"a": 1}\n', abFields, { onError: 'collect' });
    expect(clean.errors).toEqual([]);
  });
});

describe('stats after NDJSON work', () => {
  it('left nothing queued or running', () => {
    expect(stats().queued).toBe(0);
    expect(stats().running).toBe(0);
  });
});

describe('ndjson options and odd inputs', () => {
  const code = async (p: () => Promise<unknown>): Promise<string | undefined> => {
    const e = await p().then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(OffloopError);
    return (e as OffloopError).code;
  };
  const drain = async (opts: object): Promise<void> => {
    for await (const _ of ndjson.stream(['1\n'], opts as never)) void _;
  };
  const fields = { a: { path: '/a', type: 'f64' as const } };

  it('rejects onError names that are Object.prototype members', async () => {
    for (const onError of ['toString', 'constructor', 'hasOwnProperty']) {
      expect(await code(() => ndjson.parse('1\n', { onError } as never))).toBe('ERR_INVALID_ARG');
      expect(await code(() => ndjson.columns('{}\n', { fields }, { onError } as never))).toBe('ERR_INVALID_ARG');
      expect(await code(() => drain({ onError }))).toBe('ERR_INVALID_ARG');
    }
  });

  it('checks mode (which these functions ignore) and the stream options strictly', async () => {
    expect(await code(() => ndjson.parse('1\n', { mode: 'bogus' } as never))).toBe('ERR_INVALID_ARG');
    expect(await code(() => ndjson.columns('{}\n', { fields }, { mode: 'bogus' } as never))).toBe('ERR_INVALID_ARG');
    expect(await code(() => drain({ mode: 'bogus' }))).toBe('ERR_INVALID_ARG');
    expect(await code(() => json.parseMany(['1'], { mode: 'bogus' } as never))).toBe('ERR_INVALID_ARG');
    expect(await code(() => json.parseFile('/nonexistent', { mode: 'bogus' } as never))).toBe('ERR_INVALID_ARG');
    expect([...(await ndjson.parse('1\n', { mode: 'inline' }))]).toEqual([1]);
    for (const bad of [{ maxRecords: '2' }, { maxRecords: 1.5 }, { maxRecords: 0 }, { batchBytes: '1' }, { batchBytes: 0 }]) {
      expect(await code(() => drain(bad)), JSON.stringify(bad)).toBe('ERR_INVALID_ARG');
    }
    await drain({ maxRecords: Infinity, batchBytes: 2.5 });
  });

  it('tells a caller who streams a whole Buffer or string what to call instead', async () => {
    // Before: a Buffer iterates as numbers, and the error blamed its first "chunk".
    for (const whole of [Buffer.from('{"a":1}\n'), new Uint8Array(4), '{"a":1}\n']) {
      const err = await (async () => {
        for await (const _ of ndjson.stream(whole as never)) void _;
      })().catch((e: unknown) => e);
      expect((err as OffloopError).code).toBe('ERR_INVALID_ARG');
      expect((err as OffloopError).message).toMatch(/use ndjson\.parse\(input\), or pass \[input\]/);
    }
    const records = [];
    for await (const batch of ndjson.stream([Buffer.from('{"a":1}\n2\n')])) records.push(...batch);
    expect(records).toEqual([{ a: 1 }, 2]);
  });

  it('checks maxDepth as json.* does, and columns honours it', async () => {
    for (const maxDepth of ['5', -1, 0, NaN, 2 ** 32 + 1]) {
      expect(await code(() => ndjson.parse('1\n', { maxDepth } as never))).toBe('ERR_INVALID_ARG');
      expect(await code(() => ndjson.columns('{}\n', { fields }, { maxDepth } as never))).toBe('ERR_INVALID_ARG');
      expect(await code(() => drain({ maxDepth }))).toBe('ERR_INVALID_ARG');
    }
    expect(await code(() => ndjson.columns('{"a":[[[1]]]}\n', { fields }, { maxDepth: 2 }))).toBe('ERR_JSON_DEPTH');
    expect((await ndjson.columns('{"a":[[[1]]]}\n', { fields }, { maxDepth: 4 })).length).toBe(1);
  });

  it('rejects a signal that is not an AbortSignal before any work', async () => {
    expect(await code(() => ndjson.parse('1\n', { signal: {} } as never))).toBe('ERR_INVALID_ARG');
    expect(await code(() => ndjson.columns('{}\n', { fields }, { signal: {} } as never))).toBe('ERR_INVALID_ARG');
  });

  it('a column named __proto__ is an own property of columns and valid', async () => {
    const spec = JSON.parse('{"fields":{"__proto__":{"path":"/a","type":"f64"}}}') as { fields: Record<string, { path: string; type: 'f64' }> };
    const c = await ndjson.columns('{"a":1}\n{"a":2}\n', spec);
    expect(Object.keys(c.columns)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(c.columns)).toBe(Object.prototype);
    expect([...(Object.getOwnPropertyDescriptor(c.columns, '__proto__')!.value as Float64Array)]).toEqual([1, 2]);
    expect(Object.keys(c.valid)).toEqual(['__proto__']);
  });

  it('joins a surrogate pair split across string chunks, and keeps lone surrogates as JSON.parse does', async () => {
    const chunks = ['"\ud83d', '\ude00"\n', '"x\ud800', '"\n', '"\udc00"\n', '"y\ud83d', '"\n'];
    const got: unknown[] = [];
    for await (const b of ndjson.stream(chunks)) got.push(...b);
    expect(got).toEqual(['\u{1f600}', 'x\ud800', '\udc00', 'y\ud83d']);
    expect(got).toEqual(chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  });

  it('counts the backslashes before a lone surrogate across string chunks', async () => {
    const run = async (chunks: string[]): Promise<unknown> => {
      const out: unknown[] = [];
      try {
        for await (const b of ndjson.stream(chunks)) out.push(...b);
      } catch (e) {
        return (e as OffloopError).code;
      }
      return out;
    };
    const want = (chunks: string[]): unknown => {
      try {
        return chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      } catch {
        return 'ERR_JSON_SYNTAX';
      }
    };
    for (const chunks of [['"\\', '\ud800"\n'], ['"\\\\', '\ud800"\n'], ['"\\', '\\', '\ud800"\n'], ['"\\', Buffer.from('\\') as never, '\ud800"\n']]) {
      expect(await run(chunks)).toEqual(want(chunks.map(String)));
    }
    expect(await run(['"\\', '\ud800"\n'])).toBe('ERR_JSON_SYNTAX');
  });

  it('rejects a field path with a lone surrogate instead of matching U+FFFD', async () => {
    expect(await code(() => ndjson.columns('{}\n', { fields: { a: { path: '/\ud800', type: 'f64' } } }))).toBe('ERR_INVALID_ARG');
  });
});

