import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DependencyError, TaskGraph } from '../../lib/concurrency/index.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('TaskGraph', () => {
  it('diamond: the shared node runs once and both dependents get its result', async () => {
    let calls = 0;
    const shared = { big: true };
    const g = new TaskGraph()
      .add('root', async () => {
        calls++;
        await sleep(5);
        return shared;
      })
      .add('left', ['root'], (d) => d.root)
      .add('right', ['root'], async (d) => (await sleep(1), d.root))
      .add('join', ['left', 'right'], (d) => [d.left, d.right]);
    const { results, errors } = await g.run({ concurrency: 4 });
    expect(calls).toBe(1);
    expect(errors.size).toBe(0);
    expect(results.get('left')).toBe(shared);
    expect(results.get('right')).toBe(shared);
    expect(results.get('join')).toEqual([shared, shared]);
    expect([...results.keys()]).toEqual(['root', 'left', 'right', 'join']);
  });

  it('a task named __proto__ reaches its dependents as an own property', async () => {
    const g = new TaskGraph().add('__proto__', () => 42).add('b', ['__proto__'], (d) => ({ keys: Object.keys(d), v: Object.getOwnPropertyDescriptor(d, '__proto__')?.value, proto: Object.getPrototypeOf(d) === Object.prototype }));
    const { results } = await g.run();
    expect(results.get('b')).toEqual({ keys: ['__proto__'], v: 42, proto: true });
  });

  it('a failure fails everything downstream with a DependencyError whose cause is the failure; independent branches finish', async () => {
    const boom = new Error('boom');
    const ran: string[] = [];
    const g = new TaskGraph()
      .add('a', async () => {
        await sleep(2);
        throw boom;
      })
      .add('b', ['a'], () => ran.push('b'))
      .add('c', ['b'], () => ran.push('c'))
      .add('x', async () => (await sleep(10), ran.push('x'), 'x'))
      .add('y', ['x'], (d) => `${String(d.x)}y`);
    const { results, errors } = await g.run();
    expect(ran).toEqual(['x']);
    expect(results).toEqual(new Map([['x', 'x'], ['y', 'xy']]));
    expect(errors.get('a')).toBe(boom);
    const b = errors.get('b');
    expect(b).toBeInstanceOf(DependencyError);
    expect(b).toMatchObject({ dependency: 'a', origin: 'a', cause: boom });
    expect((b as Error).message).toContain('"a"');
    const c = errors.get('c') as DependencyError;
    expect(c).toMatchObject({ dependency: 'b', origin: 'a' });
    expect(c.cause).toBe(b);
    expect(c.message).toContain('"b"');
  });

  it('with two failed deps, the error names the first in declaration order regardless of timing', async () => {
    for (const [da, db] of [[1, 8], [8, 1]] as const) {
      const g = new TaskGraph()
        .add('p', async () => (await sleep(da), Promise.reject(new Error('p'))))
        .add('q', async () => (await sleep(db), Promise.reject(new Error('q'))))
        .add('r', ['q', 'p'], () => 1);
      const { errors } = await g.run();
      expect(errors.get('r')).toMatchObject({ dependency: 'q' });
    }
  });

  it('respects the concurrency limit', async () => {
    let active = 0;
    let peak = 0;
    const g = new TaskGraph();
    for (let i = 0; i < 12; i++) {
      g.add(`t${i}`, async () => {
        active++;
        peak = Math.max(peak, active);
        await sleep(3);
        active--;
      });
    }
    await g.run({ concurrency: 3 });
    expect(peak).toBe(3);
  });

  it('detects cycles at run, naming the cycle', async () => {
    const g = new TaskGraph()
      .add('start', () => 0)
      .add('a', ['start', 'c'], () => 1)
      .add('b', ['a'], () => 2)
      .add('c', ['b'], () => 3);
    await expect(g.run()).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: 'cycle: a -> c -> b -> a' });
    const self = new TaskGraph().add('s', ['s'], () => 0);
    await expect(self.run()).rejects.toMatchObject({ message: 'cycle: s -> s' });
  });

  it('rejects unknown dependencies at run and duplicate names at add', async () => {
    const g = new TaskGraph().add('a', ['ghost'], () => 0);
    await expect(g.run()).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('"ghost"') });
    expect(() => new TaskGraph().add('a', () => 0).add('a', () => 1)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG' }),
    );
    await expect(new TaskGraph().run({ concurrency: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    // A task with no function at all is named as such (it used to be told its deps were no array).
    expect(() => new TaskGraph().add('a' as never, undefined as never)).toThrowError('task "a" needs a function: add(name, fn) or add(name, deps, fn)');
    let ran = false;
    const g2 = new TaskGraph().add('a', () => (ran = true));
    await expect(g2.run({ signal: {} as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: 'options.signal must be an AbortSignal' });
    expect(ran).toBe(false);
  });

  it('an empty graph resolves at once', async () => {
    expect(await new TaskGraph().run()).toEqual({ results: new Map(), errors: new Map() });
  });

  it('caller abort aborts running tasks and rejects with AbortError', async () => {
    const ac = new AbortController();
    let sawAbort = false;
    const g = new TaskGraph()
      .add('slow', (_d, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => {
        sawAbort = true;
        resolve(0);
      })))
      .add('after', ['slow'], () => 1);
    const p = g.run({ signal: ac.signal });
    await sleep(2);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(sawAbort).toBe(true);
  });

  it('random DAGs with random timings match a sequential reference', async () => {
    // Task i may depend on any j < i, so every generated graph is acyclic.
    const graphArb = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.tuple(
        fc.tuple(...Array.from({ length: n }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => j)))),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }),
        fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        fc.integer({ min: 1, max: 4 }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(graphArb, async ([deps, delays, fails, concurrency]) => {
        const n = deps.length;
        const name = (i: number) => `t${i}`;
        // Each task's value is 1 + sum of its deps' values, or it fails when flagged.
        const body = (i: number, got: Readonly<Record<string, unknown>>): number => {
          if (fails[i]) throw new Error(`fail ${i}`);
          return 1 + deps[i]!.reduce((s, j) => s + (got[name(j)] as number), 0);
        };
        // Reference: topological (index) order, sequential.
        const refValues = new Map<string, number>();
        const refFailed = new Map<string, string>();
        for (let i = 0; i < n; i++) {
          const failedDep = deps[i]!.find((j) => refFailed.has(name(j)));
          if (failedDep !== undefined) {
            refFailed.set(name(i), `dep:${name(failedDep)}`);
            continue;
          }
          try {
            const got = Object.fromEntries(deps[i]!.map((j) => [name(j), refValues.get(name(j))]));
            refValues.set(name(i), body(i, got));
          } catch {
            refFailed.set(name(i), 'own');
          }
        }
        const calls = new Map<string, number>();
        let active = 0;
        let peak = 0;
        // Add in reverse order so scheduling differs from the reference's order.
        const g = new TaskGraph();
        for (let i = n - 1; i >= 0; i--) {
          g.add(name(i), deps[i]!.map(name), async (got) => {
            calls.set(name(i), (calls.get(name(i)) ?? 0) + 1);
            active++;
            peak = Math.max(peak, active);
            await sleep(delays[i]!);
            active--;
            return body(i, got);
          });
        }
        const { results, errors } = await g.run({ concurrency });
        expect(peak).toBeLessThanOrEqual(concurrency);
        expect(Object.fromEntries(results)).toEqual(Object.fromEntries(refValues));
        const kinds = Object.fromEntries(
          [...errors].map(([k, e]) => [k, e instanceof DependencyError ? `dep:${e.dependency}` : 'own']),
        );
        expect(kinds).toEqual(Object.fromEntries(refFailed));
        for (const v of calls.values()) expect(v).toBe(1);
      }),
      { numRuns: 60 },
    );
  });
});

describe('TaskGraph at scale', () => {
  it('fails a 50 000-task chain below a failing root without overflowing the stack', async () => {
    const g = new TaskGraph().add('t0', () => {
      throw new Error('root');
    });
    for (let i = 1; i < 50_000; i++) g.add(`t${i}`, [`t${i - 1}`], () => i);
    const { results, errors } = await g.run();
    expect(results.size).toBe(0);
    expect(errors.size).toBe(50_000);
    expect(errors.get('t49999')).toMatchObject({ dependency: 't49998', origin: 't0' });
  });
});
