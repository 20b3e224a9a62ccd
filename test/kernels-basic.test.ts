import { describe, it, expect } from 'vitest';
import { kernels, configure, OffloopError } from '../lib/index.js';
import { randomFloat64 } from './helpers/random.js';

/** The error bound of plain left-to-right summation, which the reference uses. */
function closeTo(got: number, want: number, magnitude: number, n: number): boolean {
  return Math.abs(got - want) <= 2 * n * Number.EPSILON * magnitude;
}

describe('first kernels: sum, dot, minmax', () => {
  const sizes = [0, 1, 7, 8, 9, 2047, 2048, 2049, 100_003, 1_000_000];

  for (const n of sizes) {
    it(`agree with a JS reference on ${n} random doubles (pool, inline and Sync)`, async () => {
      const x = randomFloat64(n, n + 1);
      const y = randomFloat64(n, n + 2);
      let s = 0;
      let mag = 0;
      let d = 0;
      let dmag = 0;
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < n; i++) {
        s += x[i]!;
        mag += Math.abs(x[i]!);
        d += x[i]! * y[i]!;
        dmag += Math.abs(x[i]! * y[i]!);
        min = Math.min(min, x[i]!);
        max = Math.max(max, x[i]!);
      }
      for (const mode of ['pool', 'inline'] as const) {
        expect(closeTo(await kernels.sum(x, { mode }), s, mag, n)).toBe(true);
        expect(closeTo(await kernels.dot(x, y, { mode }), d, dmag, n)).toBe(true);
        expect(await kernels.minmax(x, { mode })).toEqual({ min, max });
      }
      expect(kernels.sumSync(x)).toBe(await kernels.sum(x, { mode: 'pool' }));
      expect(kernels.dotSync(x, y)).toBe(await kernels.dot(x, y, { mode: 'pool' }));
      expect(kernels.minmaxSync(x)).toEqual({ min, max });
    });
  }

  it('works on Float32Array, accumulating in double precision', async () => {
    const x = Float32Array.from(randomFloat64(50_001, 9));
    let s = 0;
    for (const v of x) s += v;
    expect(Math.abs((await kernels.sum(x, { mode: 'pool' })) - s)).toBeLessThan(1e-6 * 50_001);
    const mm = await kernels.minmax(x);
    expect(mm.min).toBe(Math.min(...x));
    expect(mm.max).toBe(Math.max(...x));
    expect(kernels.dotSync(x, x)).toBeGreaterThan(0);
  });

  it('respects views with a byte offset', async () => {
    const buf = new Float64Array([100, 1, 2, 3, 100]);
    const view = buf.subarray(1, 4);
    expect(await kernels.sum(view, { mode: 'pool' })).toBe(6);
    expect(kernels.minmaxSync(view)).toEqual({ min: 1, max: 3 });
  });

  it('follows the documented special-value rules', () => {
    expect(kernels.sumSync(new Float64Array([1, NaN]))).toBeNaN();
    expect(kernels.sumSync(new Float64Array([Infinity, 1]))).toBe(Infinity);
    expect(kernels.sumSync(new Float64Array([1e16, 1, -1e16]))).toBe(1);
    expect(kernels.minmaxSync(new Float64Array([]))).toEqual({ min: Infinity, max: -Infinity });
    const z = kernels.minmaxSync(new Float64Array([0, -0]));
    expect(Object.is(z.min, -0)).toBe(true);
    expect(Object.is(z.max, 0)).toBe(true);
    const n = kernels.minmaxSync(new Float64Array([1, NaN, 2]));
    expect(n.min).toBeNaN();
    expect(n.max).toBeNaN();
  });

  it('gives zero sums the sign of left-to-right addition', async () => {
    // Before: every zero sum was +0, so a sum or cumsum of -0 lost its sign.
    const negZeros = new Float64Array(200_000).fill(-0);
    expect(kernels.sumSync(new Float64Array([-0]))).toBe(-0);
    expect(await kernels.sum(negZeros, { mode: 'pool' })).toBe(-0);
    expect(kernels.sumSync(negZeros, { exact: true })).toBe(-0);
    expect(kernels.meanSync(new Float32Array([-0, -0]))).toBe(-0);
    expect(kernels.sumSync(new Float64Array([-0, 0]))).toBe(0);
    expect(kernels.sumSync(new Float64Array([]))).toBe(0);
    expect(Array.from(kernels.cumsumSync(new Float64Array([-0, -0, 2, -2, -0])))).toEqual([-0, -0, 2, 0, 0]);
  });

  describe('bad arguments give OffloopError ERR_INVALID_ARG', () => {
    const detached = (): Float64Array => {
      const a = new Float64Array(16);
      structuredClone(a.buffer, { transfer: [a.buffer] });
      return a;
    };
    const cases: [string, () => Promise<unknown>][] = [
      ['a plain array', () => kernels.sum([1, 2, 3] as never)],
      ['a string', () => kernels.sum('1,2,3' as never)],
      ['undefined', () => kernels.minmax(undefined as never)],
      ['an Int8Array', () => kernels.sum(new Int8Array(4) as never, { mode: 'pool' })],
      ['a detached ArrayBuffer', () => kernels.sum(detached(), { mode: 'pool' })],
      ['a detached ArrayBuffer (inline)', () => kernels.sum(detached())],
      ['mismatched lengths for dot', () => kernels.dot(new Float64Array(3), new Float64Array(4))],
      ['mixed element types for dot', () => kernels.dot(new Float64Array(3), new Float32Array(3) as never)],
      ['a bad mode', () => kernels.sum(new Float64Array(1 << 20), { mode: 'sideways' as never })],
      ['a signal that is not an AbortSignal', () => kernels.sum(new Float64Array(1), { signal: {} as never })],
    ];
    for (const [name, call] of cases) {
      it(name, async () => {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(OffloopError);
        expect((err as OffloopError).code).toBe('ERR_INVALID_ARG');
      });
    }
    it('in Sync variants too', () => {
      expect(() => kernels.sumSync([1] as never)).toThrowError(OffloopError);
      expect(() => kernels.dotSync(new Float64Array(2), new Float64Array(3))).toThrowError(/2 elements but y has 3/);
      expect(() => kernels.minmaxSync(detached())).toThrowError(/detached/);
    });
    it('messages name the accepted types and what was passed', async () => {
      // Before: kernels that take Int32Array said only "Float64Array or Float32Array" for a plain
      // array, and a wrong typed array was not named.
      expect(() => kernels.sumSync([1, 2] as never)).toThrowError('x must be a Float64Array, Float32Array or Int32Array, got an Array');
      expect(() => kernels.sumSync(new Uint8Array(2) as never)).toThrowError('x must be a Float64Array, Float32Array or Int32Array, got a Uint8Array');
      expect(() => kernels.dotSync(new Int32Array(2) as never, new Int32Array(2) as never)).toThrowError('x must be a Float64Array or Float32Array, got an Int32Array');
      // norm2 takes Int32Array (typed so since session 16), exactly: no overflow at the int32 extremes.
      expect(kernels.norm2Sync(new Int32Array([3, 4]))).toBe(5);
      expect(await kernels.norm2(new Int32Array([2147483647, -2147483648]))).toBe(Math.hypot(2147483647, -2147483648));
      await expect(kernels.sort(new BigInt64Array(2) as never)).rejects.toThrowError(/got a BigInt64Array/);
      // `out` of the element-wise kernels and matmul takes floats only (it listed Int32Array).
      expect(() => kernels.addSync(new Float64Array(2), new Float64Array(2), new Uint8Array(2) as never)).toThrowError('out must be a Float64Array or Float32Array, got a Uint8Array');
      expect(() => kernels.matmulSync(new Float64Array(4), new Float64Array(4), { m: 2, k: 2, n: 2 }, new Int32Array(4) as never)).toThrowError('out must be a Float64Array or Float32Array, got an Int32Array');
      // Strings are quoted, so '1' does not read as the number 1.
      expect(() => kernels.varianceSync(new Float64Array(3), { ddof: '1' as never })).toThrowError('ddof must be a number, got "1"');
      expect(() => kernels.histogramSync(new Float64Array(3), { bins: '4' as never })).toThrowError('bins must be a number, got "4"');
      expect(() => configure({ maxQueue: Object.create(null) as never })).toThrowError(/maxQueue must be .*, got an object/);
    });
    it('a misspelt option is an error, not a silently different result', async () => {
      // Before: sum {exactt: true} gave the pairwise sum, sort {inplace: true} a copy.
      const x = new Float64Array([1e16, 1, -1e16]);
      await expect(kernels.sum(x, { exactt: true } as never)).rejects.toThrowError('sum: unknown option "exactt"; it takes exact, signal, mode');
      expect(() => kernels.sumSync(x, { exactt: true } as never)).toThrowError(/unknown option "exactt"/);
      await expect(kernels.sort(x, { inplace: true } as never)).rejects.toThrowError(/sort: unknown option "inplace"/);
      expect(() => kernels.sortSync(x, { inplace: true } as never)).toThrowError(/sortSync: unknown option "inplace"/);
      await expect(kernels.variance(x, { dof: 1 } as never)).rejects.toThrowError(/variance: unknown option "dof"/);
      expect(() => kernels.stdSync(x, { dof: 1 } as never)).toThrowError(/stdSync: unknown option "dof"/);
      await expect(kernels.histogram(x, { bin: 4 } as never)).rejects.toThrowError(/histogram: unknown option "bin"/);
      expect(() => kernels.histogramSync(x, 4 as never)).toThrowError(/options must be an object, got 4/);
      // Kernels that take only the call options say so too: mean {ddof: 1} gave the plain mean.
      const y = new Float64Array([1, 2]);
      await expect(kernels.mean(y, { ddof: 1 } as never)).rejects.toThrowError('mean: unknown option "ddof"; it takes signal, mode');
      await expect(kernels.dot(y, y, { exact: true } as never)).rejects.toThrowError(/dot: unknown option "exact"/);
      await expect(kernels.min(y, { signl: null } as never)).rejects.toThrowError(/min: unknown option "signl"/);
      await expect(kernels.minmax(y, { mod: 'pool' } as never)).rejects.toThrowError(/minmax: unknown option "mod"/);
      await expect(kernels.add(y, y, undefined, { inPlace: true } as never)).rejects.toThrowError(/add: unknown option "inPlace"/);
      await expect(kernels.scale(2, y, undefined, { x: 1 } as never)).rejects.toThrowError(/scale: unknown option "x"/);
      await expect(kernels.argsort(y, { stable: false } as never)).rejects.toThrowError(/argsort: unknown option "stable"/);
      await expect(kernels.quantile(y, 0.5, { method: 'nearest' } as never)).rejects.toThrowError(/quantile: unknown option "method"/);
      await expect(kernels.matmul(y, y, { m: 1, k: 2, n: 1 }, undefined, { transpose: true } as never)).rejects.toThrowError(/matmul: unknown option "transpose"/);
      expect(await kernels.mean(y, { mode: 'inline' })).toBe(1.5);
      expect(Array.from(await kernels.add(y, y, undefined, { mode: 'pool' }))).toEqual([2, 4]);
      // The known ones still work, with the call options beside them.
      expect(await kernels.sum(x, { exact: true, mode: 'pool' })).toBe(1);
      expect(await kernels.std(new Float64Array([1, 3]), { ddof: 1, signal: new AbortController().signal })).toBe(Math.SQRT2);
    });
    it('boolean options take booleans only, and numbers are written as JS writes them', async () => {
      // Before session 13 `{ exact: 'yes' }` and `{ inPlace: 1 }` meant false without a word.
      const x = new Float64Array([3, 1, 2]);
      await expect(kernels.sum(x, { exact: 'yes' as never })).rejects.toThrowError('options.exact must be a boolean, got "yes"');
      expect(() => kernels.sumSync(x, { exact: 1 as never })).toThrowError('options.exact must be a boolean, got 1');
      await expect(kernels.sort(x, { inPlace: 'yes' as never })).rejects.toThrowError(/options.inPlace must be a boolean/);
      expect(() => kernels.sortSync(x, { inPlace: 0 as never })).toThrowError(/options.inPlace must be a boolean/);
      expect(Array.from(x)).toEqual([3, 1, 2]);
      expect(kernels.sumSync(x, { exact: false })).toBe(6);
      expect(() => kernels.histogramSync(x, { range: [0, Infinity] })).toThrowError('range must be finite [lo, hi] with lo <= hi, got [0, Infinity]');
      expect(() => kernels.sumSync(new Int8Array(2) as never)).toThrowError(/got an Int8Array$/);
      // An array-like qs is copied: one claiming a billion entries is refused, not copied.
      expect(() => kernels.quantileSync(x, { length: 1e9 } as never)).toThrowError(/at most 16 777 216/);
      expect(Array.from(kernels.quantileSync(x, { length: 1, 0: 0.5 } as never))).toEqual([2]);
    });
  });
});
