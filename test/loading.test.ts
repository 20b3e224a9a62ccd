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
