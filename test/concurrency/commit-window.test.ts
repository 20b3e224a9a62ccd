import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CommitWindow } from '../../lib/concurrency/index.js';

type State = 'inflight' | 'failed' | 'succeeded' | 'skipped';

/** The naive reference: every registered offset in a list, committable recomputed from scratch. */
class Model {
  registered: { offset: number; state: State }[] = [];
  waiting: number[] = [];
  last: number;
  constructor(readonly start: number, readonly max: number) {
    this.last = start - 1;
  }
  unfinished(): number {
    return this.registered.filter((e) => e.state === 'inflight' || e.state === 'failed').length;
  }
  admit(): void {
    while (this.waiting.length > 0 && this.unfinished() < this.max) {
      this.registered.push({ offset: this.waiting.shift()!, state: 'inflight' });
    }
  }
  committable(): number {
    let c = this.start;
    for (const e of this.registered) {
      if (e.state !== 'succeeded' && e.state !== 'skipped') break;
      c = e.offset + 1;
    }
    return c;
  }
  inState(s: State): number[] {
    return this.registered.filter((e) => e.state === s).map((e) => e.offset);
  }
}

type Op =
  | { kind: 'begin'; gap: number }
  | { kind: 'succeed' | 'fail' | 'retry' | 'skip'; pick: number }
  | { kind: 'misuse'; op: 'succeed' | 'fail' | 'retry' | 'skip'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('begin' as const), gap: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom('succeed' as const, 'fail' as const, 'retry' as const, 'skip' as const),
      pick: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('misuse' as const),
      op: fc.constantFrom('succeed' as const, 'fail' as const, 'retry' as const, 'skip' as const),
      pick: fc.nat(),
    }),
  },
);

const flush = async () => {
  for (let i = 0; i < 3; i++) await Promise.resolve();
};

describe('CommitWindow', () => {
  it('matches a naive model over random begin/succeed/fail/retry/skip sequences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(opArb, { maxLength: 120 }),
        async (start, max, ops) => {
          const commits: number[] = [];
          const w = new CommitWindow({ maxInFlight: max, start, onCommit: (c) => commits.push(c) });
          const m = new Model(start, max);
          const begun = new Map<number, boolean>();
          let prevCommittable = start;
          for (const op of ops) {
            if (op.kind === 'begin') {
              const offset = m.last + op.gap;
              m.last = offset;
              m.waiting.push(offset);
              m.admit();
              begun.set(offset, false);
              void w.begin(offset).then(() => begun.set(offset, true));
            } else if (op.kind === 'misuse') {
              // An offset in any state but the one the op needs, or one never registered.
              const need: State = op.op === 'succeed' || op.op === 'fail' ? 'inflight' : 'failed';
              const wrong = m.registered.filter((e) => e.state !== need).map((e) => e.offset);
              const candidates = [...wrong, m.last + 1, start - 1];
              const offset = candidates[op.pick % candidates.length]!;
              const call = () => (op.op === 'fail' ? w.fail(offset, new Error('x')) : w[op.op](offset));
              expect(call).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
            } else {
              const need: State = op.kind === 'succeed' || op.kind === 'fail' ? 'inflight' : 'failed';
              const pool = m.inState(need);
              if (pool.length === 0) continue;
              const offset = pool[op.pick % pool.length]!;
              const entry = m.registered.find((e) => e.offset === offset)!;
              const next: Record<typeof op.kind, State> = { succeed: 'succeeded', fail: 'failed', retry: 'inflight', skip: 'skipped' };
              entry.state = next[op.kind];
              if (op.kind === 'fail') w.fail(offset, new Error(`e${offset}`));
              else w[op.kind](offset);
              m.admit();
            }
            const c = m.committable();
            expect(w.committable).toBe(c);
            expect(w.inFlight).toBe(m.inState('inflight').length);
            expect(w.failed).toEqual(m.inState('failed'));
            // Never past an unfinished offset, never backwards.
            for (const e of m.registered) {
              if (e.state === 'inflight' || e.state === 'failed') expect(c).toBeLessThanOrEqual(e.offset);
            }
            expect(c).toBeGreaterThanOrEqual(prevCommittable);
            if (c > prevCommittable) expect(commits.at(-1)).toBe(c);
            prevCommittable = c;
            await flush();
            const registered = new Set(m.registered.map((e) => e.offset));
            for (const [offset, resolved] of begun) expect(resolved).toBe(registered.has(offset));
          }
          // Each reported commit is a strict advance.
          for (let i = 1; i < commits.length; i++) expect(commits[i]!).toBeGreaterThan(commits[i - 1]!);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('committable is start initially and last + 1 once the whole prefix is done, gaps included', () => {
    const w = new CommitWindow({ maxInFlight: 10, start: 100 });
    expect(w.committable).toBe(100);
    void w.begin(100);
    void w.begin(105);
    void w.begin(109);
    w.succeed(109);
    expect(w.committable).toBe(100);
    w.succeed(100);
    expect(w.committable).toBe(101);
    w.fail(105, new Error('poison'));
    expect(w.failed).toEqual([105]);
    expect((w.errorOf(105) as Error).message).toBe('poison');
    w.skip(105);
    expect(w.committable).toBe(110);
    expect(w.failed).toEqual([]);
  });

  it('backpressure: the maxInFlight+1-th begin waits until one finishes', async () => {
    const w = new CommitWindow({ maxInFlight: 2 });
    await w.begin(0);
    await w.begin(1);
    let third = false;
    const p = w.begin(2).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe(false);
    expect(w.inFlight).toBe(2);
    w.fail(1, new Error('x'));
    await new Promise((r) => setTimeout(r, 1));
    // A failed offset is still unfinished, so it holds its slot.
    expect(third).toBe(false);
    w.succeed(0);
    await p;
    expect(third).toBe(true);
    expect(w.committable).toBe(1);
  });

  it('an aborted waiting begin rejects and leaves a gap', async () => {
    const w = new CommitWindow({ maxInFlight: 1 });
    await w.begin(0);
    const ac = new AbortController();
    const p = w.begin(1, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    const next = w.begin(2);
    w.succeed(0);
    await next;
    expect(w.committable).toBe(1);
    w.succeed(2);
    // Offset 1 was never registered, so it does not hold the commit back.
    expect(w.committable).toBe(3);
  });

  it('throws ERR_INVALID_ARG on misuse', async () => {
    const w = new CommitWindow({ maxInFlight: 4, start: 10 });
    const invalid = expect.objectContaining({ code: 'ERR_INVALID_ARG' });
    await expect(w.begin(9)).rejects.toEqual(invalid);
    await w.begin(10);
    await expect(w.begin(10)).rejects.toEqual(invalid);
    await expect(w.begin(10.5)).rejects.toEqual(invalid);
    await expect(w.begin(11, { signal: {} as never })).rejects.toEqual(invalid);
    expect(() => w.succeed(11)).toThrow(invalid);
    expect(() => w.retry(10)).toThrow(invalid);
    expect(() => w.skip(10)).toThrow(invalid);
    w.succeed(10);
    expect(() => w.succeed(10)).toThrow(invalid);
    expect(() => w.fail(10, new Error())).toThrow(invalid);
    for (const maxInFlight of [0, 1.5, -3]) expect(() => new CommitWindow({ maxInFlight })).toThrow(invalid);
    expect(() => new CommitWindow({ maxInFlight: 1, start: -1 })).toThrow(invalid);
  });

  it('handles a window of a million offsets completed out of order', async () => {
    const n = 1_000_000;
    const w = new CommitWindow({ maxInFlight: n });
    for (let i = 0; i < n; i++) void w.begin(i * 2);
    for (let i = n - 1; i >= 1; i--) w.succeed(i * 2);
    expect(w.committable).toBe(0);
    w.succeed(0);
    expect(w.committable).toBe(2 * (n - 1) + 1);
  });
});
