import { describe, it, expect, afterAll } from 'vitest';
import { promises as fs } from 'node:fs';
import { getEventListeners } from 'node:events';
import { kernels, stats, internal, configure, OffloopError, CommitWindow } from '../lib/index.js';
import { runChild } from './helpers/child.js';

const THREADS = stats().threads;

function blockers(n: number, ms: number): Promise<number>[] {
  return Array.from({ length: n }, () => internal.spinForTest(ms));
}

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('runtime', () => {
  afterAll(() => configure({ maxQueue: 65_536 }));

  it('keeps the event loop ticking while the pool runs 4 x threads heavy jobs', async () => {
    const jobs = blockers(4 * THREADS, 150);
    let ticks = 0;
    const interval = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    const statTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s0 = performance.now();
      await fs.stat(import.meta.filename);
      statTimes.push(performance.now() - s0);
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(jobs);
    clearInterval(interval);
    const elapsed = performance.now() - t0;
    // A 1 ms interval fires at most once per ms; allow timer coarseness but not a stalled loop.
    expect(ticks).toBeGreaterThan(elapsed * 0.5);
    expect(Math.max(...statTimes)).toBeLessThan(50);
    expect(elapsed).toBeGreaterThanOrEqual(4 * 150 - 20);
  });

  it('contains a native panic to one promise, then runs 1 000 more jobs', async () => {
    const before = stats();
    const err = await internal.panicForTest().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OffloopError);
    expect((err as OffloopError).code).toBe('ERR_NATIVE_PANIC');
    expect((err as OffloopError).message).toContain('deliberate panic');
    const x = new Float64Array([1, 2, 3.5]);
    const results = await Promise.all(Array.from({ length: 1000 }, () => kernels.sum(x, { mode: 'pool' })));
    expect(results.every((r) => r === 6.5)).toBe(true);
    const after = stats();
    expect(after.failed - before.failed).toBe(1);
    expect(after.completed - before.completed).toBe(1000);
  });

  it('keeps a native panic off stderr, and names where it happened in the message', async () => {
    const source = `
      import { internal } from './lib/index.ts';
      const err = await internal.panicForTest().catch((e) => e);
      console.log(JSON.stringify([err.code, err.message]));
    `;
    const quiet = await runChild(source);
    const [code, message] = JSON.parse(quiet.stdout) as [string, string];
    expect(code).toBe('ERR_NATIVE_PANIC');
    expect(message).toMatch(/deliberate panic.*\(at [^()]+\.rs:\d+\)/);
    // Before: Rust's default hook printed "thread '...' panicked at ..." on the host's stderr.
    expect(quiet.stderr).toBe('');
    const verbose = await runChild(source, { OFFLOOP_DEBUG_PANICS: '1' });
    expect(verbose.stderr).toContain('panicked');
  });

  it('warns about OFFLOOP_* values it does not know instead of ignoring them', async () => {
    const source = `
      import { stats, kernels } from './lib/index.ts';
      console.log(JSON.stringify([stats().threads, await kernels.sum(new Float64Array([1, 2]), { mode: 'pool' })]));
    `;
    const bad = await runChild(source, { OFFLOOP_THREADS: 'four', OFFLOOP_SIMD: 'avx3', OFFLOOP_PRIORITY: 'high' });
    expect(bad.code).toBe(0);
    expect(bad.stderr).toMatch(/\[OFFLOOP_ENV\].*OFFLOOP_THREADS must be a positive integer, got "four"/);
    expect(bad.stderr).toMatch(/OFFLOOP_SIMD must be scalar, avx2 or avx512, got "avx3"/);
    expect(bad.stderr).toMatch(/OFFLOOP_PRIORITY must be idle, low or normal, got "high"/);
    // The defaults were used, and the work ran.
    expect(JSON.parse(bad.stdout)[1]).toBe(3);
    const good = await runChild(source, { OFFLOOP_THREADS: '3', OFFLOOP_SIMD: 'scalar', OFFLOOP_PRIORITY: 'low' });
    expect(good.stderr).toBe('');
    expect(JSON.parse(good.stdout)).toEqual([3, 3]);
  });

  it('rejects at once for an already-aborted signal, without submitting', async () => {
    const before = stats();
    const ac = new AbortController();
    ac.abort();
    const err = await kernels.sum(new Float64Array(10), { signal: ac.signal, mode: 'pool' }).catch((e: unknown) => e);
    expect((err as DOMException).name).toBe('AbortError');
    const after = stats();
    expect(after.completed + after.failed + after.cancelled).toBe(before.completed + before.failed + before.cancelled);
  });

  it('drops an aborted queued job without running it', async () => {
    const running = blockers(THREADS, 200);
    await waitUntil(() => stats().running === THREADS);
    const ac = new AbortController();
    const before = stats();
    const queued = internal.spinForTest(10, { signal: ac.signal });
    expect(stats().queued).toBe(before.queued + 1);
    const t0 = performance.now();
    ac.abort();
    const err = await queued.catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(20);
    expect((err as DOMException).name).toBe('AbortError');
    expect(stats().queued).toBe(before.queued);
    expect(stats().cancelled).toBe(before.cancelled + 1);
    await Promise.all(running);
    // It never ran: every job that finished is one of the blockers.
    expect(stats().completed).toBe(before.completed + THREADS);
  });

  it('stops a running 1-second job within 50 ms of the abort', async () => {
    const ac = new AbortController();
    const job = internal.spinForTest(1000, { signal: ac.signal });
    await waitUntil(() => stats().running >= 1);
    const before = stats();
    const t0 = performance.now();
    ac.abort();
    const err = await job.catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(50);
    expect((err as DOMException).name).toBe('AbortError');
    expect(stats().cancelled).toBe(before.cancelled + 1);
    expect(stats().running).toBe(0);
  });

  it('waits on a shared signal with one listener however many jobs use it (no MaxListenersExceededWarning)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      const jobs = Array.from({ length: 40 }, () => internal.spinForTest(300, { signal: ac.signal }).catch((e: unknown) => e));
      const window = new CommitWindow({ maxInFlight: 1 });
      await window.begin(0);
      const begins = Array.from({ length: 15 }, (_, i) => window.begin(i + 1, { signal: ac.signal }).catch((e: unknown) => e));
      // Before: one listener per job and per waiting begin, and Node warned past 10.
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
      ac.abort();
      for (const e of [...(await Promise.all(jobs)), ...(await Promise.all(begins))]) {
        expect((e as DOMException).name).toBe('AbortError');
      }
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      // Jobs that finish stop listening: nothing stays behind on a long-lived signal.
      const shared = new AbortController();
      await Promise.all(Array.from({ length: 30 }, () => internal.spinForTest(1, { signal: shared.signal })));
      expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
      const again = internal.spinForTest(500, { signal: shared.signal });
      expect(getEventListeners(shared.signal, 'abort')).toHaveLength(1);
      shared.abort();
      expect(((await again.catch((e: unknown) => e)) as DOMException).name).toBe('AbortError');
      await new Promise((r) => setTimeout(r, 20));
      expect(warnings.filter((n) => n === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('rejects with ERR_QUEUE_FULL beyond maxQueue, and stats count what happened', async () => {
    configure({ maxQueue: 3 });
    const running = blockers(THREADS, 150);
    await waitUntil(() => stats().running === THREADS);
    const before = stats();
    const queued = blockers(3, 1);
    expect(stats().queued).toBe(3);
    const err = await internal.spinForTest(1).catch((e: unknown) => e);
    expect((err as OffloopError).code).toBe('ERR_QUEUE_FULL');
    await Promise.all([...running, ...queued]);
    const after = stats();
    expect(after.completed - before.completed).toBe(THREADS + 3);
    expect(after.queued).toBe(0);
    expect(after.running).toBe(0);
    configure({ maxQueue: 65_536 });
  });

  it('runs tiny calls inline and counts them', async () => {
    const before = stats();
    expect(await kernels.sum(new Float64Array([1, 2]))).toBe(3);
    const after = stats();
    expect(after.inline).toBe(before.inline + 1);
    expect(after.completed).toBe(before.completed);
  });

  it('refuses to change the thread count after the pool started', () => {
    expect(() => configure({ threads: THREADS + 1 })).toThrowError(/after the pool started/);
    try {
      configure({ threads: THREADS + 1 });
    } catch (e) {
      expect((e as OffloopError).code).toBe('ERR_INVALID_ARG');
    }
    expect(() => configure({ threadPriority: 'normal' })).toThrowError(/after the pool started/);
    expect(() => configure({ threadPriority: 'urgent' as never })).toThrowError(/threadPriority/);
    expect(() => configure({ maxQueue: 0 })).toThrowError(OffloopError);
    expect(() => configure({ bogus: 1 } as never)).toThrowError(/unknown option/);
  });

  it('reports per-thread busy time', async () => {
    const s0 = stats();
    await Promise.all(blockers(THREADS, 50));
    const s1 = stats();
    expect(s1.busyMs).toHaveLength(THREADS);
    const added = s1.busyMs.reduce((a, b) => a + b, 0) - s0.busyMs.reduce((a, b) => a + b, 0);
    expect(added).toBeGreaterThanOrEqual(THREADS * 45);
  });
});

describe('process lifetime', () => {
  it('exits by itself after work completes', async () => {
    const r = await runChild(`
      import { kernels, internal } from './lib/index.ts';
      const x = new Float64Array(1 << 20).fill(0.5);
      console.log(await kernels.sum(x, { mode: 'pool' }));
      await internal.spinForTest(5);
    `);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(String((1 << 20) * 0.5));
  });

  it('runs pool threads at idle scheduling priority by default, as configured otherwise', async () => {
    const read = `
      import { readdirSync, readFileSync } from 'node:fs';
      import { internal, stats, configure } from './lib/index.ts';
      if (process.env.PRIORITY) configure({ threadPriority: process.env.PRIORITY });
      const busy = internal.spinForTest(200);
      await new Promise((r) => setTimeout(r, 50));
      const policies = [];
      for (const t of readdirSync('/proc/self/task')) {
        if (!readFileSync('/proc/self/task/' + t + '/comm', 'utf8').startsWith('offloop-')) continue;
        const fields = readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ');
        policies.push(fields[16] + '/' + fields[38]); // nice / scheduling policy
      }
      await busy;
      console.log(stats().priority, [...new Set(policies)].join(','));`;
    if (process.platform !== 'linux') return;
    expect((await runChild(read)).stdout.trim()).toBe('idle 0/5'); // SCHED_IDLE is policy 5
    expect((await runChild(read, { PRIORITY: 'low' })).stdout.trim()).toBe('low 10/0');
    expect((await runChild(read, { PRIORITY: 'normal' })).stdout.trim()).toBe('normal 0/0');
  });

  it('is sized by OFFLOOP_THREADS when set', async () => {
    const r = await runChild(
      `import { stats, kernels } from './lib/index.ts';
       await kernels.sum(new Float64Array(8), { mode: 'pool' });
       console.log(stats().threads);`,
      { OFFLOOP_THREADS: '3' },
    );
    expect(r.stdout.trim()).toBe('3');
  });
});
