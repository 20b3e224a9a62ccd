import { describe, it, expect } from 'vitest';
import { runChild } from './helpers/child.js';

describe('loading the native binary', () => {
  it('names the platform, the supported ones and how to build when no binary fits', async () => {
    const r = await runChild(`
      Object.defineProperty(process, 'platform', { value: 'freebsd' });
      try {
        await import('./lib/index.ts');
        console.log('loaded');
      } catch (e) {
        console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message }));
      }
    `);
    const out = JSON.parse(r.stdout.trim()) as { name: string; code: string; message: string };
    expect(out.name).toBe('OffloopError');
    expect(out.code).toBe('ERR_NATIVE_LOAD');
    expect(out.message).toContain(`freebsd-${process.arch}`);
    expect(out.message).toContain('linux-x64-gnu');
    expect(out.message).toMatch(/build from source/i);
  });

  it('reports a binary that fails to load', async () => {
    const r = await runChild(
      `try { await import('./lib/index.ts'); } catch (e) { console.log(e.code, e.message.includes('could not load')); }`,
      { OFFLOOP_BINARY: new URL('./loading.test.ts', import.meta.url).pathname },
    );
    expect(r.stdout.trim()).toBe('ERR_NATIVE_LOAD true');
  });
});

describe('one JS thread per process', () => {
  it('refuses a worker thread beside the thread that loaded offloop, with ERR_NATIVE_LOAD', async () => {
    // Before: the worker's completions settled the main thread's promises (wrong values) or crashed.
    const r = await runChild(`
      import { Worker } from 'node:worker_threads';
      import { kernels } from './lib/index.ts';
      const x = new Float64Array(1 << 16).fill(1);
      console.log('main', await kernels.sum(x, { mode: 'pool' }));
      // The built package (tsx's hooks do not reach an eval worker); it loads the same binary.
      const w = new Worker("import('./dist/index.js').then(() => console.log('worker loaded'), (e) => console.log('worker', e.code))", { eval: true });
      await new Promise((r) => w.on('exit', r));
      console.log('main again', await kernels.sum(x, { mode: 'pool' }));
    `);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('main 65536');
    expect(r.stdout).toContain('worker ERR_NATIVE_LOAD');
    expect(r.stdout).toContain('main again 65536');
  });
});

describe('shared memory', () => {
  it('sorts a SharedArrayBuffer view that another thread writes meanwhile without crashing', async () => {
    // Before: the sort's scatter trusted the counts of its first pass and wrote out of bounds.
    const r = await runChild(`
      import { Worker } from 'node:worker_threads';
      import { kernels } from './lib/index.ts';
      const sab = new SharedArrayBuffer(8 * (1 << 21));
      const x = new Float64Array(sab);
      for (let i = 0; i < x.length; i++) x[i] = Math.random();
      const flag = new Int32Array(new SharedArrayBuffer(4));
      const w = new Worker("import('node:worker_threads').then(({ workerData: [sab, f] }) => { const x = new Float64Array(sab); const flag = new Int32Array(f); let v = 0; while (Atomics.load(flag, 0) === 0) { for (let i = 0; i < x.length; i += 7) x[i] = (v++ % 1000) / 7; } })", { eval: true, workerData: [sab, flag.buffer] });
      await new Promise((r) => setTimeout(r, 50));
      for (let round = 0; round < 3; round++) {
        const s = await kernels.sort(x, { mode: 'pool' });
        const a = await kernels.argsort(x, { mode: 'pool' });
        await kernels.sort(x, { mode: 'pool', inPlace: true });
        kernels.sortSync(x);
        for (let i = 1; i < s.length; i++) if (!(s[i - 1] <= s[i])) throw new Error('not sorted at ' + i);
        if (a.length !== x.length) throw new Error('argsort length');
      }
      Atomics.store(flag, 0, 1);
      await new Promise((r) => w.on('exit', r));
      const y = new Float64Array(new SharedArrayBuffer(32)); y.set([3, -0, 1, 0]);
      kernels.sortSync(y, { inPlace: true });
      console.log('ok', Array.from(y).map((v) => Object.is(v, -0) ? '-0' : String(v)).join(','));
    `);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('ok -0,0,1,3');
  });

  it('rejects a sort whose plain input array JS writes meanwhile with ERR_INPUT_CHANGED, never corrupts memory', async () => {
    // Before: JS writing the array while the pool sorted it made the scatter write out of bounds (SIGSEGV).
    const r = await runChild(`
      import { kernels } from './lib/index.ts';
      const x = new Float64Array(1 << 22);
      for (let i = 0; i < x.length; i++) x[i] = (i * 2654435761 % 1000003) / 7;
      const outcomes = [];
      for (let round = 0; round < 3; round++) {
        for (const op of [() => kernels.sort(x, { mode: 'pool' }), () => kernels.argsort(x, { mode: 'pool' })]) {
          const p = op().then((v) => 'ok', (e) => e.code);
          const t0 = performance.now();
          let v = 0;
          while (performance.now() - t0 < 150) for (let i = 0; i < x.length; i += 3) x[i] = (v++ % 5000) * 1e-3;
          outcomes.push(await p);
        }
      }
      console.log(outcomes.join(','));
    `);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    const outcomes = r.stdout.trim().split(',');
    expect(outcomes).toHaveLength(6);
    // A sort may finish before the first write lands, but every failure must be the typed one.
    for (const o of outcomes) expect(['ok', 'ERR_INPUT_CHANGED']).toContain(o);
    expect(outcomes).toContain('ERR_INPUT_CHANGED');
  });
});
