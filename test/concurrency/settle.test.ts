import { describe, expect, it } from 'vitest';
import { settle } from '../../lib/concurrency/index.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('settle', () => {
  it('returns every value at its index and every error sorted by index', async () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    let active = 0;
    let peak = 0;
    const { values, errors } = await settle(
      items,
      async (x) => {
        active++;
        peak = Math.max(peak, active);
        await sleep((x * 13) % 7);
        active--;
        if (x % 3 === 0) throw new Error(`bad ${x}`);
        return x * 10;
      },
      { concurrency: 5 },
    );
    expect(peak).toBeLessThanOrEqual(5);
    expect(values.length).toBe(20);
    expect(errors.map((e) => e.index)).toEqual([0, 3, 6, 9, 12, 15, 18]);
    expect(errors.map((e) => (e.error as Error).message)).toEqual(errors.map((e) => `bad ${e.index}`));
    for (const i of items) {
      if (i % 3 === 0) expect(i in values).toBe(false);
      else expect(values[i]).toBe(i * 10);
    }
  });

  it('keeps a hole for a failed last item', async () => {
    const { values, errors } = await settle([1, 2], (x) => {
      if (x === 2) throw new Error('sync');
      return x;
    }, { concurrency: 1 });
    expect(values.length).toBe(2);
    expect(1 in values).toBe(false);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.index).toBe(1);
  });

  it('handles an empty source', async () => {
    expect(await settle([], (x) => x, { concurrency: 2 })).toEqual({ values: [], errors: [] });
  });

  it('rejects with AbortError when the caller aborts, after aborting in-flight calls', async () => {
    const ac = new AbortController();
    const signals: AbortSignal[] = [];
    const p = settle(
      [1, 2, 3, 4],
      (x, { signal }) => {
        signals.push(signal);
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true }));
      },
      { concurrency: 2, signal: ac.signal },
    );
    await sleep(5);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('validates concurrency', async () => {
    await expect(settle([1], (x) => x, { concurrency: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(settle([1], (x) => x, { concurrency: 1, signal: {} as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});

describe('argument checks (QA pass 3)', () => {
  it('rejects a non-function fn, a non-boolean ordered, and null options with ERR_INVALID_ARG', async () => {
    const { mapConcurrent, CommitWindow, TaskGraph } = await import('../../lib/concurrency/index.js');
    // settle used to resolve with one TypeError per item for `fn: 'notfn'`.
    await expect(settle([1, 2], 'notfn' as never, { concurrency: 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    // `ordered: 'false'` used to be taken as ordered.
    expect(() => mapConcurrent([1], async (x: number) => x, { concurrency: 1, ordered: 'false' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG' }),
    );
    // null options used to throw a raw TypeError.
    await expect(new CommitWindow({ maxInFlight: 1 }).begin(0, null)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(new TaskGraph().add('a', () => 1).run(null)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});
