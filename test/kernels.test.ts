import { describe, it, expect } from 'vitest';
import { kernels, OffloopError } from '../lib/index.js';
import { randomFloat64 } from './helpers/random.js';
import { runChild } from './helpers/child.js';

const modes = ['pool', 'inline'] as const;

/** Exact sum by Shewchuk's partials, then rounded (as Python's math.fsum, simplified final step). */
function fsum(x: ArrayLike<number>): number {
  let partials: number[] = [];
  for (let k = 0; k < x.length; k++) {
    let v = x[k]!;
    const next: number[] = [];
    for (let p of partials) {
      if (Math.abs(v) < Math.abs(p)) [v, p] = [p, v];
      const hi = v + p;
      const lo = p - (hi - v);
      if (lo !== 0) next.push(lo);
      v = hi;
    }
    next.push(v);
    partials = next;
  }
  return partials.reduce((a, b) => a + b, 0);
}

function pairwiseBound(x: ArrayLike<number>): number {
  let mag = 0;
  for (let i = 0; i < x.length; i++) mag += Math.abs(x[i]!);
  return Math.ceil(Math.log2(Math.max(2, x.length))) * Number.EPSILON * mag;
}

async function rejects(p: () => Promise<unknown>): Promise<OffloopError> {
  const err = await p().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OffloopError);
  expect((err as OffloopError).code).toBe('ERR_INVALID_ARG');
  return err as OffloopError;
}

describe('reductions', () => {
  for (const n of [0, 1, 15, 16, 17, 2049, 100_003]) {
    it(`mean, variance, std, norm2, argmin, argmax, min, max on ${n} doubles`, async () => {
      const x = randomFloat64(n, 40 + n);
      let s = 0;
      for (const v of x) s += v;
      const m = s / n;
      let ss = 0;
      for (const v of x) ss += (v - m) * (v - m);
      const tol = (v: number) => 1e-12 * Math.max(1, Math.abs(v));
      for (const mode of modes) {
        if (n === 0) {
          expect(await kernels.mean(x, { mode })).toBeNaN();
          expect(await kernels.argmin(x, { mode })).toBe(-1);
          continue;
        }
        expect(Math.abs((await kernels.mean(x, { mode })) - m)).toBeLessThanOrEqual(tol(m));
        if (n > 1) {
          expect(Math.abs((await kernels.variance(x, { mode, ddof: 1 })) - ss / (n - 1))).toBeLessThanOrEqual(tol(ss));
          expect(Math.abs((await kernels.std(x, { mode })) - Math.sqrt(ss / n))).toBeLessThanOrEqual(tol(ss));
        }
        let nn = 0;
        for (const v of x) nn += v * v;
        expect(Math.abs((await kernels.norm2(x, { mode })) - Math.sqrt(nn))).toBeLessThanOrEqual(tol(nn));
        let lo = 0;
        let hi = 0;
        for (let i = 1; i < n; i++) {
          if (x[i]! < x[lo]!) lo = i;
          if (x[i]! > x[hi]!) hi = i;
        }
        expect(await kernels.argmin(x, { mode })).toBe(lo);
        expect(await kernels.argmax(x, { mode })).toBe(hi);
        expect(await kernels.min(x, { mode })).toBe(x[lo]);
        expect(await kernels.max(x, { mode })).toBe(x[hi]);
      }
      expect(kernels.meanSync(x)).toBe(await kernels.mean(x, { mode: 'pool' }));
      expect(kernels.varianceSync(x)).toBe(await kernels.variance(x, { mode: 'pool' }));
      expect(kernels.argminSync(x)).toBe(await kernels.argmin(x, { mode: 'pool' }));
    });
  }

  it('NaN rules: reductions propagate NaN; argmin/argmax give the first NaN', () => {
    const x = new Float64Array(5000).map((_, i) => i);
    x[3000] = NaN;
    x[4000] = NaN;
    for (const f of [kernels.sumSync, kernels.meanSync, kernels.varianceSync, kernels.stdSync, kernels.norm2Sync, kernels.minSync, kernels.maxSync]) {
      expect(f(x)).toBeNaN();
    }
    expect(kernels.argminSync(x)).toBe(3000);
    expect(kernels.argmaxSync(x)).toBe(3000);
    expect(kernels.argminSync(new Float64Array([2, 1, 1, 3]))).toBe(1);
    expect(kernels.argmaxSync(new Float64Array([-Infinity, -Infinity]))).toBe(0);
    expect(kernels.argminSync(new Float64Array([Infinity, Infinity]))).toBe(0);
    expect(kernels.argminSync(new Float64Array([0, -0]))).toBe(0);
    expect(kernels.varianceSync(new Float64Array([1]), { ddof: 1 })).toBeNaN();
    // Squares that overflow: the variance is Infinity when it is beyond the largest double (as
    // numpy gives), and exact when only the squares were; std stays finite (numpy: inf).
    expect(kernels.varianceSync(new Float64Array([1e200, -1e200]))).toBe(Infinity);
    expect(kernels.stdSync(new Float64Array([1e308, -1e308])) / 1e308).toBeCloseTo(1, 12);
    expect(kernels.stdSync(new Float64Array([Number.MAX_VALUE, -Number.MAX_VALUE])) / Number.MAX_VALUE).toBeCloseTo(1, 12);
    expect(kernels.varianceSync(new Float64Array([1e154, -1e154])) / 1e308).toBeCloseTo(1, 12);
    expect(kernels.stdSync(new Float64Array([3e200, -3e200, 3e200, -3e200])) / 3e200).toBeCloseTo(1, 12);
    expect(kernels.varianceSync(new Float64Array([1e200, Infinity]))).toBeNaN();
    expect(kernels.norm2Sync(new Float64Array([3e200, 4e200]))).toBeCloseTo(5e200, -190);
    expect(kernels.norm2Sync(new Float64Array([3e-200, 4e-200])) / 5e-200).toBeCloseTo(1, 12);
  });

  it('sum of an Int32Array, on every path', async () => {
    const x = Int32Array.from({ length: 100_003 }, (_, i) => ((i * 7919) % 20011) * 100_000 - 1_000_000_000);
    let want = 0;
    for (const v of x) want += v;
    expect(Number.isSafeInteger(want)).toBe(true);
    expect(kernels.sumSync(x)).toBe(want);
    expect(await kernels.sum(x, { mode: 'pool' })).toBe(want);
    expect(await kernels.sum(x, { mode: 'inline' })).toBe(want);
    expect(await kernels.sum(x, { exact: true })).toBe(want);
  });

  it('Int32Array for min, max, argmin, argmax, minmax', async () => {
    const x = Int32Array.from({ length: 10_001 }, (_, i) => ((i * 7919) % 20011) - 10000);
    expect(await kernels.min(x)).toBe(Math.min(...x));
    expect(kernels.maxSync(x)).toBe(Math.max(...x));
    expect(x[kernels.argminSync(x)]).toBe(Math.min(...x));
    expect(await kernels.minmax(x, { mode: 'pool' })).toEqual({ min: Math.min(...x), max: Math.max(...x) });
  });

  it('sum, mean, dot and variance are at least as accurate as pairwise summation on adversarial input', () => {
    const n = 10_000_000;
    const x = new Float64Array(n);
    // Huge cancellations and mixed magnitudes: +-1e16 pairs interleaved with small values.
    for (let i = 0; i < n; i++) {
      const r = (i * 2654435761) % 1000;
      x[i] = i % 4 === 0 ? 1e16 : i % 4 === 2 ? -1e16 : (r - 500) * 1e-3 + (i % 7) * 1e3;
    }
    const exact = fsum(x);
    const got = kernels.sumSync(x);
    expect(Math.abs(got - exact)).toBeLessThanOrEqual(pairwiseBound(x) / 1e6);
    expect(kernels.sumSync(x, { exact: true })).toBe(exact);
    const m = kernels.meanSync(x);
    expect(Math.abs(m - exact / n)).toBeLessThanOrEqual(4 * Number.EPSILON * Math.abs(exact / n));
    const ones = new Float64Array(n).fill(1);
    expect(kernels.dotSync(x, ones)).toBe(got);
    const shifted = new Float64Array(100_000).map((_, i) => 1e9 + (i % 10));
    // Exact variance of 1e9 + (0..9 repeated) is 8.25.
    expect(Math.abs(kernels.varianceSync(shifted) - 8.25)).toBeLessThanOrEqual(1e-9);
  });

  it('exact sum is correctly rounded', async () => {
    expect(kernels.sumSync(new Float64Array([1e308, 1e308, -1e308]), { exact: true })).toBe(1e308);
    expect(kernels.sumSync(new Float64Array([0.1, 0.2, -0.3]), { exact: true })).toBe(2.7755575615628914e-17);
    expect(await kernels.sum(new Float64Array([2 ** 53, 1, 1e-300]), { exact: true, mode: 'pool' })).toBe(2 ** 53 + 2);
    const x = randomFloat64(50_001, 3).map((v, i) => v * 10 ** ((i % 40) - 20));
    expect(kernels.sumSync(x, { exact: true })).toBe(fsum(x));
  });
});

describe('element-wise', () => {
  const n = 100_003;
  const x = randomFloat64(n, 1);
  const y = randomFloat64(n, 2).map((v) => v + 3);
  const cases: [string, (o?: Float64Array) => Promise<Float64Array>, (i: number) => number][] = [
    ['add', (o) => kernels.add(x, y, o, { mode: 'pool' }), (i) => x[i]! + y[i]!],
    ['sub', (o) => kernels.sub(x, y, o, { mode: 'pool' }), (i) => x[i]! - y[i]!],
    ['mul', (o) => kernels.mul(x, y, o, { mode: 'pool' }), (i) => x[i]! * y[i]!],
    ['div', (o) => kernels.div(x, y, o, { mode: 'pool' }), (i) => x[i]! / y[i]!],
    ['scale', (o) => kernels.scale(0.3, x, o, { mode: 'pool' }), (i) => 0.3 * x[i]!],
    ['axpy', (o) => kernels.axpy(1.7, x, y, o, { mode: 'pool' }), (i) => 1.7 * x[i]! + y[i]!],
    ['clamp', (o) => kernels.clamp(x, -0.5, 0.25, o, { mode: 'pool' }), (i) => (x[i]! < -0.5 ? -0.5 : x[i]! > 0.25 ? 0.25 : x[i]!)],
  ];
  for (const [name, run, ref] of cases) {
    it(`${name} matches the JS expression bit for bit, new array and out`, async () => {
      const got = await run();
      const out = new Float64Array(n);
      expect(await run(out)).toBe(out);
      for (let i = 0; i < n; i++) {
        expect(Object.is(got[i], ref(i))).toBe(true);
        expect(Object.is(out[i], ref(i))).toBe(true);
      }
    });
  }

  it('Float32 rounds like JS, in place works, Sync twins agree', () => {
    const a = Float32Array.from(randomFloat64(1000, 5));
    const b = Float32Array.from(randomFloat64(1000, 6));
    const s = kernels.axpySync(0.1, a, b);
    for (let i = 0; i < 1000; i++) expect(s[i]).toBe(Math.fround(0.1 * a[i]! + b[i]!));
    const c = b.slice();
    expect(kernels.addSync(a, c, c)).toBe(c);
    for (let i = 0; i < 1000; i++) expect(c[i]).toBe(Math.fround(a[i]! + b[i]!));
    const d = a.slice();
    kernels.mulSync(d, d, d);
    for (let i = 0; i < 1000; i++) expect(d[i]).toBe(Math.fround(a[i]! * a[i]!));
  });

  it('cumsum: running sum, in place, exact on integers, within the blocked error bound', async () => {
    const ints = new Float64Array(200_001).map((_, i) => (i % 13) - 6);
    const out = await kernels.cumsum(ints, undefined, { mode: 'pool' });
    let s = 0;
    for (let i = 0; i < ints.length; i++) {
      s += ints[i]!;
      expect(out[i]).toBe(s);
    }
    const inplace = ints.slice();
    kernels.cumsumSync(inplace, inplace);
    expect(inplace).toEqual(out);
    // Floats of mixed magnitude: every prefix within (i / 8 + 6) eps sum |x_j| of the exact sum
    // (a sequential loop's bound is i eps sum |x_j|).
    const f = new Float64Array(20_000).map((_, i) => Math.sin(i * 0.61) * 10 ** ((i % 7) - 3));
    const got = kernels.cumsumSync(f);
    let mag = 0;
    for (let i = 0; i < f.length; i++) {
      mag += Math.abs(f[i]!);
      if (i % 199 !== 0) continue;
      const bound = (i / 8 + 6) * Number.EPSILON * mag;
      expect(Math.abs(got[i]! - fsum(f.subarray(0, i + 1)))).toBeLessThanOrEqual(bound);
    }
  });
});

describe('order statistics', () => {
  function specialArray(n: number, seed: number): Float64Array {
    const r = randomFloat64(n, seed);
    const pick = [NaN, -0, 0, Infinity, -Infinity, 1, -1, 5e-324];
    return r.map((v, i) => (i % 11 === 0 ? pick[Math.floor(Math.abs(v) * 8) % 8]! : v * 1e3));
  }

  /** Number of positions whose bytes differ (fast on large arrays, unlike a deep equality). */
  function bitDiffs(a: ArrayBufferView, b: ArrayBufferView): number {
    const u = new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
    const v = new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    if (u.length !== v.length) return -1;
    let d = 0;
    for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) d++;
    return d;
  }

  it('sort is bit for bit TypedArray.prototype.sort, with NaN, -0, +0, Infinity', async () => {
    for (const n of [0, 1, 2, 100, 10_007, 300_000]) {
      const x = specialArray(n, n);
      const want = x.slice().sort();
      for (const mode of modes) expect(bitDiffs(await kernels.sort(x, { mode }), want)).toBe(0);
      const c = x.slice();
      expect(kernels.sortSync(c, { inPlace: true })).toBe(c);
      expect(bitDiffs(c, want)).toBe(0);
      const f = Float32Array.from(x);
      expect(bitDiffs(kernels.sortSync(f), f.slice().sort())).toBe(0);
      const i32 = Int32Array.from(x.map((v) => (Number.isFinite(v) ? v : 7)));
      expect(bitDiffs(await kernels.sort(i32, { mode: 'pool' }), i32.slice().sort())).toBe(0);
    }
  }, 60_000);

  it('argsort is stable, NaN last', async () => {
    const x = Float64Array.from({ length: 50_000 }, (_, i) => (i % 97 === 0 ? NaN : (i * 31) % 101));
    const want = Array.from(x.keys()).sort((a, b) => {
      const [u, v] = [x[a]!, x[b]!];
      if (Number.isNaN(u) || Number.isNaN(v)) return Number(Number.isNaN(u)) - Number(Number.isNaN(v)) || a - b;
      return u - v || a - b;
    });
    expect(Array.from(await kernels.argsort(x, { mode: 'pool' }))).toEqual(want);
    expect(Array.from(kernels.argsortSync(x))).toEqual(want);
  });

  it('quantile follows numpy linear interpolation', async () => {
    const x = new Float64Array([3, 1, 4, 1, 5, 9, 2, 6]);
    const q = await kernels.quantile(x, [0, 0.25, 0.5, 1]);
    expect(Array.from(q)).toEqual([1, 1.75, 3.5, 9]);
    expect(kernels.quantileSync(x, 0.9)[0]).toBeCloseTo(6.9, 12);
    expect(kernels.quantileSync(new Float64Array([1, NaN]), [0.5])[0]).toBeNaN();
  });

  it('histogram follows numpy (last bin closed)', async () => {
    const h = await kernels.histogram(new Float64Array([0, 1, 1, 2, 3, 3, 3, 4, NaN]), { bins: 4, range: [0, 4] });
    expect(Array.from(h.counts)).toEqual([1, 2, 1, 4]);
    expect(Array.from(h.edges)).toEqual([0, 1, 2, 3, 4]);
    const auto = kernels.histogramSync(Int32Array.from([1, 2, 2, 3]), { bins: 2 });
    expect(Array.from(auto.counts)).toEqual([1, 3]);
    expect(Array.from(auto.edges)).toEqual([1, 2, 3]);
  });
});

describe('matmul and matvec', () => {
  function ref(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
    const c = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      c[i * n + j] = s;
    }
    return c;
  }
  for (const [m, k, n] of [[1, 1, 1], [7, 13, 5], [64, 300, 70], [129, 257, 33]] as const) {
    it(`${m}x${k} times ${k}x${n} matches a triple loop`, async () => {
      const a = randomFloat64(m * k, m);
      const b = randomFloat64(k * n, n);
      const want = ref(a, b, m, k, n);
      const got = await kernels.matmul(a, b, { m, k, n }, undefined, { mode: 'pool' });
      const out = new Float64Array(m * n);
      expect(kernels.matmulSync(a, b, { m, k, n }, out)).toBe(out);
      expect(out).toEqual(got);
      for (let i = 0; i < m * n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-9 * k);
      const v = await kernels.matvec(a, b.subarray(0, k), { m, k });
      for (let i = 0; i < m; i++) expect(Math.abs(v[i]! - ref(a, b.subarray(0, k), m, k, 1)[i]!)).toBeLessThanOrEqual(1e-9 * k);
    });
  }
});

describe('argument errors', () => {
  const x = new Float64Array(8);
  const cases: [string, () => Promise<unknown>][] = [
    ['mean of an Array', () => kernels.mean([1, 2] as never)],
    ['negative ddof', () => kernels.variance(x, { ddof: -1 })],
    ['ddof a string, on the pool', () => kernels.variance(new Float64Array(1 << 20), { ddof: '1' as never, mode: 'pool' })],
    ['ddof a boolean, std inline', () => kernels.std(x, { ddof: true as never, mode: 'inline' })],
    ['add with mismatched lengths', () => kernels.add(x, new Float64Array(7))],
    ['add with mixed types', () => kernels.add(x, new Float32Array(8) as never)],
    ['out too short', () => kernels.add(x, x, new Float64Array(7))],
    ['out partially overlapping', () => kernels.scale(2, x.subarray(0, 4), x.subarray(2, 6))],
    ['scale with a string', () => kernels.scale('2' as never, x)],
    ['clamp with lo > hi', () => kernels.clamp(x, 1, 0)],
    ['add on Int32Array', () => kernels.add(new Int32Array(2) as never, new Int32Array(2) as never)],
    ['sort of a Uint8Array', () => kernels.sort(new Uint8Array(3) as never)],
    ['quantile q out of range', () => kernels.quantile(x, [1.5])],
    ['quantile of empty', () => kernels.quantile(new Float64Array(0), [0.5])],
    ['histogram bins 0', () => kernels.histogram(x, { bins: 0 })],
    ['histogram auto range with NaN', () => kernels.histogram(new Float64Array([1, NaN]))],
    ['histogram range wider than a double', () => kernels.histogram(x, { bins: 2, range: [-Number.MAX_VALUE, Number.MAX_VALUE] })],
    ['histogram auto range wider than a double', () => kernels.histogram(new Float64Array([-Number.MAX_VALUE, Number.MAX_VALUE]))],
    ['matmul bad shape', () => kernels.matmul(x, x, { m: 3, k: 3, n: 3 })],
    ['matmul out aliasing a', () => kernels.matmul(new Float64Array(4), new Float64Array(4), { m: 2, k: 2, n: 2 }, undefined)
      .then(() => { const a = new Float64Array(4); return kernels.matmul(a, new Float64Array(4), { m: 2, k: 2, n: 2 }, a); })],
    ['matmul non-integer m', () => kernels.matmul(x, x, { m: 2.5, k: 2, n: 4 })],
    // k = 0 makes a and b empty, so only the result's size is wrong (2^51 elements): it used to
    // abort the process in the allocator.
    ['matmul result larger than a typed array', () => kernels.matmul(new Float64Array(0), new Float64Array(0), { m: 2 ** 31, k: 0, n: 2 ** 20 })],
    ['matmul result larger than a typed array, on the pool', () => kernels.matmul(new Float64Array(0), new Float64Array(0), { m: 2 ** 31, k: 0, n: 2 ** 31 }, undefined, { mode: 'pool' })],
  ];
  for (const [name, call] of cases) it(name, async () => void (await rejects(call)));
  it('in Sync variants too', () => {
    expect(() => kernels.varianceSync(x, { ddof: '1' as never })).toThrowError(/ddof must be a number/);
    expect(() => kernels.addSync(x, new Float64Array(3))).toThrowError(OffloopError);
    expect(() => kernels.matmulSync(x, x, { m: 1, k: 1, n: 1 })).toThrowError(/expected m \* k/);
    // matvec's errors name its own arguments.
    const a = new Float64Array(6);
    expect(() => kernels.matvecSync(a, new Float64Array(2), { m: 2, k: 3 })).toThrowError('x has 2 elements, expected k = 3');
    expect(() => kernels.matvecSync(a, new Float64Array(3), { m: 2, k: 3 }, new Float64Array(3))).toThrowError('out has 3 elements, expected m = 2');
    expect(() => kernels.matvecSync(a, a.subarray(0, 3), { m: 2, k: 3 }, a.subarray(2, 4))).toThrowError('out must not overlap a or x');
    expect(() => kernels.sortSync('x' as never)).toThrowError(OffloopError);
  });
});

describe('results of calls on the JS thread', () => {
  it('are freed by the GC alone: a synchronous loop of Sync calls does not hold their memory', async () => {
    // Each call's result is dropped at once. Results used to be external buffers, which Node
    // frees only on a later turn of the event loop: this loop held 40 000 x 32 KiB (1.3 GB).
    const source = `
      import { kernels, json } from './lib/index.ts';
      const x = new Float64Array(4096).map((_, i) => Math.sin(i));
      const doc = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ i, s: 'v' + i, f: i / 7 })));
      const rss0 = process.memoryUsage().rss;
      let check = 0;
      for (let i = 0; i < 40000; i++) {
        check += kernels.addSync(x, x)[7] + kernels.cumsumSync(x)[4095];
        if (i % 40 === 0) check += json.parseSync(doc).length;
      }
      console.log(JSON.stringify({ grownMb: (process.memoryUsage().rss - rss0) / 2 ** 20, check }));
    `;
    const r = await runChild(source, {}, 120_000);
    expect(r.code, r.stderr).toBe(0);
    const { grownMb, check } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { grownMb: number; check: number };
    expect(Number.isFinite(check)).toBe(true);
    expect(grownMb).toBeLessThan(400);
  }, 150_000);
});

describe('resizable ArrayBuffers', () => {
  it('async calls reject views of them (a shrink would unmap memory under the pool); Sync twins take them', async () => {
    // In a child: before the check, shrinking the buffer while the job ran killed the process.
    const source = `
      import { kernels, json, ndjson } from './lib/index.ts';
      const ab = new ArrayBuffer(8 * 4e6, { maxByteLength: 8 * 4e6 });
      const f = new Float64Array(ab);
      f.fill(1);
      const codes = [];
      const code = async (p) => { try { await p(); codes.push('ok'); } catch (e) { codes.push(e.code); } };
      await code(() => { const p = kernels.sum(f, { mode: 'pool' }); ab.resize(8); return p; });
      ab.resize(8 * 4e6);
      f.fill(1);
      await code(() => kernels.sort(f, { inPlace: true, mode: 'pool' }));
      await code(() => kernels.add(new Float64Array(4e6), new Float64Array(4e6), f));
      await code(() => kernels.mean(f.subarray(0, 4), { mode: 'inline' }));
      const bytes = new Uint8Array(new ArrayBuffer(4, { maxByteLength: 64 }));
      bytes.set([91, 49, 93, 32]);
      await code(() => json.parse(bytes));
      await code(() => json.parseMany([Buffer.from('1'), bytes]));
      await code(() => ndjson.parse(bytes));
      console.log(JSON.stringify({ codes, sync: kernels.sumSync(f), parsed: json.parseSync(bytes) }));
    `;
    const r = await runChild(source, {}, 60_000);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { codes: string[]; sync: number; parsed: unknown };
    expect(out.codes).toEqual(Array(7).fill('ERR_INVALID_ARG'));
    expect(out.sync).toBe(4e6);
    expect(out.parsed).toEqual([1]);
  }, 90_000);
});

describe('determinism across processes, pool sizes and SIMD levels', () => {
  it('identical bits for OFFLOOP_THREADS 1, 2, 3, 4, 8 and OFFLOOP_SIMD scalar vs widest', async () => {
    const source = `
      import { kernels } from './lib/index.ts';
      const n = 1_000_003;
      const x = new Float64Array(n);
      // mulberry32, two draws (53 bits) an element: every value distinct, magnitudes 1e-8..1e8.
      let a = 12345;
      const next = () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return (t ^ (t >>> 14)) >>> 0; };
      for (let i = 0; i < n; i++) x[i] = (((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992 - 0.5) * 10 ** ((i % 17) - 8);
      const y = x.map((v, i) => v * ((i % 3) - 1));
      const o = { mode: 'pool' };
      const r = [
        await kernels.sum(x, o), await kernels.sum(x, { ...o, exact: true }), await kernels.mean(x, o),
        await kernels.variance(x, o), await kernels.std(x, { ...o, ddof: 1 }), await kernels.dot(x, y, o),
        await kernels.norm2(x, o), await kernels.argmin(x, o), await kernels.argmax(x, o),
        (await kernels.minmax(x, o)).min,
      ];
      const c = await kernels.cumsum(x, undefined, o);
      const m = await kernels.matmul(x.subarray(0, 200 * 300), y.subarray(0, 300 * 100), { m: 200, k: 300, n: 100 }, undefined, o);
      const h = (a) => { let v = 0n; const b = new BigUint64Array(a.buffer, a.byteOffset, a.length); for (const w of b) v = (v * 1000003n + w) & ((1n << 64n) - 1n); return v.toString(); };
      console.log(JSON.stringify([Array.from(new BigUint64Array(Float64Array.from(r).buffer), String), h(c), h(m)]));
    `;
    const envs: Record<string, string>[] = [
      { OFFLOOP_THREADS: '1' },
      { OFFLOOP_THREADS: '2' },
      { OFFLOOP_THREADS: '3' },
      { OFFLOOP_THREADS: '4' },
      { OFFLOOP_THREADS: '8' },
      { OFFLOOP_THREADS: '3', OFFLOOP_SIMD: 'scalar' },
      { OFFLOOP_THREADS: '2', OFFLOOP_SIMD: 'avx2' },
    ];
    const outs: string[] = [];
    for (const env of envs) {
      const r = await runChild(source, env, 60_000);
      expect(r.code, r.stderr).toBe(0);
      outs.push(r.stdout.trim());
    }
    for (const o of outs) expect(o).toBe(outs[0]);
  }, 120_000);
});
