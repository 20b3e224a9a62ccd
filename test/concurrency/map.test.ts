import { describe, expect, it } from 'vitest';
import { mapConcurrent } from '../../lib/concurrency/index.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** An async source that records how far it was pulled and whether return() was called. */
function trackedSource(n = Number.POSITIVE_INFINITY) {
  const state = { pulled: 0, returned: false };
  async function* gen() {
    try {
      for (let i = 0; i < n; i++) {
        state.pulled++;
        yield i;
      }
    } finally {
      state.returned = true;
    }
  }
  return { state, source: gen() };
}

describe('mapConcurrent', () => {
  it('never exceeds concurrency and preserves order', async () => {
    let active = 0;
    let peak = 0;
    const out = await collect(
      mapConcurrent(
        Array.from({ length: 60 }, (_, i) => i),
        async (x) => {
          active++;
          peak = Math.max(peak, active);
          await sleep((x * 7) % 5);
          active--;
          return x * 2;
        },
        { concurrency: 4 },
      ),
    );
    expect(out).toEqual(Array.from({ length: 60 }, (_, i) => i * 2));
    expect(peak).toBe(4);
  });

  it('pulls lazily from an infinite generator and calls its return() on break', async () => {
    const { state, source } = trackedSource();
    const seen: number[] = [];
    for await (const x of mapConcurrent(source, async (x) => x, { concurrency: 3 })) {
      seen.push(x);
      if (seen.length === 10) break;
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // At most `concurrency` items beyond what was yielded may have been pulled.
    expect(state.pulled).toBeLessThanOrEqual(10 + 3);
    expect(state.returned).toBe(true);
  });

  it('pulls nothing before the first next() and at most concurrency items while the consumer is idle', async () => {
    const { state, source } = trackedSource();
    const it = mapConcurrent(source, async (x) => x, { concurrency: 5 });
    await sleep(5);
    expect(state.pulled).toBe(0);
    expect((await it.next()).value).toBe(0);
    await sleep(20);
    // in flight + finished-not-yielded stays <= concurrency, so at most 1 yielded + 5 buffered.
    expect(state.pulled).toBeLessThanOrEqual(6);
    await it.return?.();
    expect(state.returned).toBe(true);
  });

  it('return() or throw() before the first next() closes the source it opened, and pulls nothing', async () => {
    // Before: the source iterator was opened at the call, but only the generator body closed it,
    // and a generator that never started has no body to run.
    const opened = () => {
      const state = { pulled: 0, returns: 0 };
      const source = {
        [Symbol.asyncIterator]: () => ({
          next: async () => ({ done: false, value: state.pulled++ }),
          return: async () => {
            state.returns++;
            return { done: true as const, value: undefined };
          },
        }),
      };
      return { state, source };
    };
    const a = opened();
    const m = mapConcurrent(a.source, async (x) => x, { concurrency: 3 });
    expect(await m.return!()).toEqual({ done: true, value: undefined });
    expect(a.state).toEqual({ pulled: 0, returns: 1 });
    expect(await m.next()).toEqual({ done: true, value: undefined });
    await m.return!();
    expect(a.state.returns).toBe(1);
    const b = opened();
    const boom = new Error('boom');
    await expect(mapConcurrent(b.source, async (x) => x, { concurrency: 3 }).throw!(boom)).rejects.toBe(boom);
    expect(b.state).toEqual({ pulled: 0, returns: 1 });
  });

  it('ordered: a slow head item holds back new pulls (in flight + buffered <= concurrency)', async () => {
    const { state, source } = trackedSource(20);
    const it = mapConcurrent(source, async (x) => (await sleep(x === 0 ? 40 : 1), x), { concurrency: 3 });
    expect((await it.next()).value).toBe(0);
    // While item 0 was pending, items 1 and 2 finished but could not be yielded, so no 4th item was
    // started; after 0 is yielded one more pull may already be under way.
    expect(state.pulled).toBeLessThanOrEqual(4);
    const rest: number[] = [];
    for await (const x of it) rest.push(x);
    expect(rest).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
  });

  it('unordered yields in completion order', async () => {
    const delays = [50, 10, 30, 0];
    const out = await collect(
      mapConcurrent(delays, async (d, { index }) => (await sleep(d), index), { concurrency: 4, ordered: false }),
    );
    expect(out).toEqual([3, 1, 2, 0]);
  });

  it('passes the index, and accepts sync iterables and sync fns', async () => {
    const out = await collect(mapConcurrent(new Set(['a', 'b', 'c']), (s, { index }) => `${s}${index}`, { concurrency: 2 }));
    expect(out).toEqual(['a0', 'b1', 'c2']);
  });

  it('on error: stops pulling, aborts in-flight signals, waits for them, calls return(), then throws', async () => {
    const { state, source } = trackedSource();
    const aborted: number[] = [];
    const settledAfter: number[] = [];
    const boom = new Error('boom');
    const run = collect(
      mapConcurrent(
        source,
        async (x, { signal }) => {
          if (x === 3) {
            await sleep(5);
            throw boom;
          }
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          aborted.push(x);
          await sleep(10);
          settledAfter.push(x);
          return x;
        },
        { concurrency: 4 },
      ),
    );
    await expect(run).rejects.toBe(boom);
    expect(aborted.sort()).toEqual([0, 1, 2]);
    // Every in-flight call had settled before the error was thrown.
    expect(settledAfter.sort()).toEqual([0, 1, 2]);
    expect(state.returned).toBe(true);
    expect(state.pulled).toBe(4);
  });

  it('a throwing source fails the map after in-flight calls settle', async () => {
    async function* bad() {
      yield 1;
      throw new Error('source broke');
    }
    let finished = 0;
    await expect(
      collect(mapConcurrent(bad(), async (x) => (await sleep(5), finished++, x), { concurrency: 2 })),
    ).rejects.toThrow('source broke');
    expect(finished).toBe(1);
  });

  it('caller abort: in-flight signals abort, source closes, AbortError is thrown', async () => {
    const { state, source } = trackedSource();
    const ac = new AbortController();
    const signals: AbortSignal[] = [];
    const run = collect(
      mapConcurrent(
        source,
        (x, { signal }) => {
          signals.push(signal);
          return new Promise((resolve) => signal.addEventListener('abort', () => resolve(x), { once: true }));
        },
        { concurrency: 2, signal: ac.signal },
      ),
    );
    await sleep(5);
    ac.abort();
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(signals.length).toBe(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(state.returned).toBe(true);
  });

  it('break aborts in-flight signals and waits for them before returning', async () => {
    const { state, source } = trackedSource();
    const signals: AbortSignal[] = [];
    let settled = 0;
    for await (const x of mapConcurrent(
      source,
      async (x, { signal }) => {
        signals.push(signal);
        if (x > 0) {
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          await sleep(5);
        }
        settled++;
        return x;
      },
      { concurrency: 3 },
    )) {
      expect(x).toBe(0);
      break;
    }
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(settled).toBe(signals.length);
    expect(state.returned).toBe(true);
  });

  it('errors after the first are swallowed: no unhandled rejections', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(
        collect(mapConcurrent([1, 2, 3, 4], async (x) => (await sleep(x), Promise.reject(new Error(`e${x}`))), { concurrency: 4 })),
      ).rejects.toThrow('e1');
      await sleep(20);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('validates concurrency with ERR_INVALID_ARG', () => {
    for (const c of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2' as unknown as number]) {
      expect(() => mapConcurrent([1], (x) => x, { concurrency: c })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    }
  });

  it('validates signal with ERR_INVALID_ARG, before touching the source', () => {
    let opened = false;
    const source = { [Symbol.iterator]: () => ((opened = true), [1][Symbol.iterator]()) };
    for (const signal of [{}, 'abort', null]) {
      expect(() => mapConcurrent(source, (x) => x, { concurrency: 1, signal: signal as never })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG', message: 'options.signal must be an AbortSignal' }),
      );
    }
    expect(opened).toBe(false);
  });

  it('an abort or a break does not wait for a source that is slow to give its next item', async () => {
    for (const stop of ['abort', 'break'] as const) {
      let returned = false;
      async function* slow() {
        try {
          yield 1;
          await sleep(1500);
          yield 2;
        } finally {
          returned = true;
        }
      }
      const ac = new AbortController();
      const t0 = performance.now();
      const run = (async () => {
        for await (const v of mapConcurrent(slow(), (x) => x, { concurrency: 2, signal: ac.signal })) {
          expect(v).toBe(1);
          if (stop === 'break') break;
          setTimeout(() => ac.abort(), 50);
        }
      })();
      if (stop === 'abort') await expect(run).rejects.toMatchObject({ name: 'AbortError' });
      else await run;
      expect(performance.now() - t0).toBeLessThan(1000);
      // return() comes once the pending pull has settled.
      await sleep(1700);
      expect(returned).toBe(true);
    }
  });

  it('a source whose next() throws or gives a non-object fails the map with that error', async () => {
    const throwsOn = (k: number): AsyncIterable<number> => ({
      [Symbol.asyncIterator]() {
        let i = 0;
        return {
          next(): Promise<IteratorResult<number>> {
            if (++i === k) throw new Error(`next ${k} threw`);
            return Promise.resolve(i > 6 ? { done: true, value: undefined } : { done: false, value: i });
          },
        };
      },
    });
    await expect(collect(mapConcurrent(throwsOn(3), (x) => x, { concurrency: 2 }))).rejects.toThrow('next 3 threw');
    const gives = (v: unknown, sync: boolean) => ({
      [sync ? Symbol.iterator : Symbol.asyncIterator]: () => ({ next: () => (sync ? v : Promise.resolve(v)) }),
    });
    for (const sync of [false, true]) {
      for (const v of [undefined, 42]) {
        await expect(collect(mapConcurrent(gives(v, sync) as never, (x) => x, { concurrency: 2 }))).rejects.toThrow(TypeError);
      }
    }
  });

  it('awaits the values of a sync iterable as for await does', async () => {
    const seen: unknown[] = [];
    const out = await collect(mapConcurrent([Promise.resolve(1), 2, Promise.resolve(3)], (x) => (seen.push(x), x), { concurrency: 2 }));
    expect(out).toEqual([1, 2, 3]);
    expect(seen.sort()).toEqual([1, 2, 3]);
    // A rejected promise in the source fails the map with its reason and closes the source.
    let closed = false;
    function* gen() {
      try {
        yield 1;
        yield Promise.reject(new Error('bad item'));
        yield 3;
      } finally {
        closed = true;
      }
    }
    await expect(collect(mapConcurrent(gen(), (x) => x, { concurrency: 1 }))).rejects.toThrow('bad item');
    expect(closed).toBe(true);
  });
});
