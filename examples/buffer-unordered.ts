/**
 * The "buffer_unordered trap": running many requests concurrently does not help when each response
 * is parsed with `JSON.parse` on the event loop — the parses run one after another on the main
 * thread and block it. offloop's `json.parse` moves the parse to the native pool (the value is
 * still built on the JS thread, in slices); `json.select` also builds only the fields it needs.
 *
 * Run: npx tsx examples/buffer-unordered.ts
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { json, mapConcurrent } from '../lib/index.js';

const REQUESTS = 32;

/** A ~1 MB JSON response body, like a page of API results. */
function makeBody(seed: number): Buffer {
  const items = Array.from({ length: 5_000 }, (_, i) => ({
    id: seed * 100_000 + i,
    name: `user-${i}`,
    email: `user${i}@example.com`,
    tags: ['alpha', 'beta', 'gamma'].slice(0, (i % 3) + 1),
    score: (i * 7919) % 1000 / 10,
    active: i % 2 === 0,
    address: { city: 'Springfield', zip: String(10_000 + i) },
  }));
  return Buffer.from(JSON.stringify({ page: seed, items }));
}

const bodies = Array.from({ length: 4 }, (_, i) => makeBody(i));

/** A fake HTTP request: some network latency, then the body's bytes. */
async function fetchFake(i: number): Promise<Buffer> {
  await new Promise((r) => setTimeout(r, 5 + ((i * 37) % 20)));
  return bodies[i % bodies.length]!;
}

async function scenario(label: string, parse: (body: Buffer) => Promise<unknown> | unknown): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const elu0 = performance.eventLoopUtilization();
  delay.enable();
  const t0 = performance.now();
  let items = 0;
  const requests = Array.from({ length: REQUESTS }, (_, i) => i);
  for await (const page of mapConcurrent(requests, async (i) => parse(await fetchFake(i)), { concurrency: REQUESTS })) {
    items += (page as { items: unknown[] }).items.length;
  }
  const wall = performance.now() - t0;
  delay.disable();
  const elu = performance.eventLoopUtilization(elu0);
  console.log(
    `${label.padEnd(26)} wall ${wall.toFixed(0).padStart(5)} ms | main-thread busy ${(elu.active).toFixed(0).padStart(5)} ms ` +
      `(${(elu.utilization * 100).toFixed(0)} %) | worst event-loop stall ${(delay.max / 1e6).toFixed(1)} ms | ${items} items`,
  );
}

const mb = bodies.reduce((s, b) => s + b.length, 0) / bodies.length / 1e6;
console.log(`${REQUESTS} concurrent requests, ~${mb.toFixed(2)} MB body each`);
// Warm both paths once so the comparison is not about first-call costs.
JSON.parse(bodies[0]!.toString());
await json.parse(bodies[0]!);
await scenario('JSON.parse (main thread)', (b) => JSON.parse(b.toString()));
await scenario('offloop json.parse', (b) => json.parse(b));
// When only part of each body is needed, select builds just that part on the main thread.
await scenario('offloop json.select (ids)', (b) => json.select(b, { items: '/items/*/id' }));
