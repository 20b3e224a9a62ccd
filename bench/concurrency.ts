/**
 * Concurrency benchmarks: the buffer_unordered scenario (parse inside a concurrent map), many
 * NDJSON pipelines sharing few cores, and CommitWindow cost per operation vs window size.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pMap from 'p-map';
import { json, ndjson } from '../lib/index.js';
import { CommitWindow, mapConcurrent } from '../lib/concurrency/index.js';
import { type BenchRow, log, median, timeMs } from './util.js';

const GROUP = 'concurrency';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** ~0.8 MB API-like JSON bodies. */
function makeBody(seed: number): Buffer {
  const items = Array.from({ length: 5_000 }, (_, i) => ({
    id: seed * 100_000 + i,
    name: `user-${i}`,
    tags: ['alpha', 'beta', 'gamma'].slice(0, (i % 3) + 1),
    score: ((i * 7919) % 1000) / 10,
    address: { city: 'Springfield', zip: String(10_000 + i) },
  }));
  return Buffer.from(JSON.stringify({ page: seed, items }));
}

async function bufferUnordered(): Promise<BenchRow[]> {
  const requests = 32;
  const bodies = Array.from({ length: 4 }, (_, i) => makeBody(i));
  const fetchFake = async (i: number) => (await sleep(5 + ((i * 37) % 20)), bodies[i % bodies.length]!);
  const ids = Array.from({ length: requests }, (_, i) => i);
  const viaMap = async (parse: (b: Buffer) => unknown) => {
    for await (const _ of mapConcurrent(ids, async (i) => parse(await fetchFake(i)), { concurrency: requests }));
  };
  const reqPerS = (ms: number) => (requests / ms) * 1000;
  const offloop = reqPerS(await timeMs(() => viaMap((b) => json.parse(b)), 3, 1));
  const native = reqPerS(await timeMs(() => viaMap((b) => JSON.parse(b.toString())), 3, 1));
  const pmap = reqPerS(
    await timeMs(() => pMap(ids, async (i) => JSON.parse((await fetchFake(i)).toString()), { concurrency: requests }), 3, 1),
  );
  // Building only the needed part of each body is where offloop avoids main-thread work entirely.
  const select = reqPerS(await timeMs(() => viaMap((b) => json.select(b, { ids: '/items/*/id' })), 3, 1));
  // The longest stall while the 32 requests are parsed: each parse's value is built in slices, and
  // concurrent builds share one slice budget (docs/DESIGN.md).
  const worstStall = async (parse: (b: Buffer) => unknown): Promise<number> => {
    const runs: number[] = [];
    for (let r = 0; r < 5; r++) {
      const h = monitorEventLoopDelay({ resolution: 1 });
      const tick = setInterval(() => {}, 1);
      h.enable();
      await viaMap(parse);
      h.disable();
      clearInterval(tick);
      runs.push(h.max / 1e6);
    }
    return median(runs);
  };
  const stallOurs = await worstStall((b) => json.parse(b));
  const stallTheirs = await worstStall((b) => JSON.parse(b.toString()));
  log(
    `buffer_unordered: json.parse ${offloop.toFixed(1)} req/s, json.select ${select.toFixed(1)}, ` +
      `JSON.parse ${native.toFixed(1)}, p-map ${pmap.toFixed(1)}`,
  );
  const common = { group: GROUP, offloop, unit: 'requests/s', better: 'higher' as const };
  const note = `${requests} concurrent fake requests, ~${(bodies[0]!.length / 1e6).toFixed(1)} MB JSON body each`;
  return [
    { ...common, name: 'buffer_unordered: mapConcurrent + json.parse', rival: native, rivalName: 'mapConcurrent + JSON.parse', note },
    { ...common, name: 'buffer_unordered: mapConcurrent + json.parse vs p-map', rival: pmap, rivalName: 'p-map + JSON.parse', note },
    {
      ...common,
      name: 'buffer_unordered: mapConcurrent + json.select (ids only)',
      offloop: select,
      rival: native,
      rivalName: 'mapConcurrent + JSON.parse',
      note,
    },
    {
      group: GROUP,
      name: 'buffer_unordered: longest event-loop stall, json.parse',
      offloop: stallOurs,
      rival: stallTheirs,
      rivalName: 'mapConcurrent + JSON.parse',
      unit: 'ms',
      better: 'lower',
      note: `${note}; median of 5 runs of the max event-loop delay`,
    },
  ];
}

/** A fresh in-memory NDJSON stream over `data`, as 64 KiB chunks, per call. */
function chunkSource(data: Buffer): () => AsyncGenerator<Buffer> {
  return async function* () {
    for (let at = 0; at < data.length; at += 64 * 1024) yield data.subarray(at, at + 64 * 1024);
  };
}

/** The rival pipeline: split lines and JSON.parse each on the event loop. */
async function jsPipeline(chunks: AsyncIterable<Buffer>): Promise<number> {
  let rest = '';
  let n = 0;
  for await (const chunk of chunks) {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line) (JSON.parse(line), n++);
    // Yield between chunks as a real stream would, so pipelines interleave.
    await new Promise<void>((r) => setImmediate(r));
  }
  return n;
}

async function manyPipelines(): Promise<BenchRow[]> {
  const lines: string[] = [];
  for (let i = 0, bytes = 0; bytes < 2e6; i++) {
    lines.push(JSON.stringify({ id: i, user: `u${i % 97}`, amount: i * 0.25, ok: i % 3 === 0 }));
    bytes += lines[i]!.length + 1;
  }
  const data = Buffer.from(lines.join('\n') + '\n');
  const mb = data.length / 1e6;
  const levels = [1, 8, 64];
  const rows: BenchRow[] = [];
  const agg = new Map<number, number>();
  for (const k of levels) {
    const source = chunkSource(data);
    const streams = Array.from({ length: k }, (_, i) => i);
    const offloopMs = await timeMs(async () => {
      for await (const _ of mapConcurrent(streams, async () => {
        for await (const _batch of ndjson.stream(source(), { batchBytes: 256 * 1024 }));
      }, { concurrency: k, ordered: false }));
    }, 3, 1);
    const jsMs = await timeMs(async () => {
      for await (const _ of mapConcurrent(streams, () => jsPipeline(source()), { concurrency: k, ordered: false }));
    }, 3, 1);
    const offloop = (k * mb) / (offloopMs / 1000);
    const rival = (k * mb) / (jsMs / 1000);
    agg.set(k, offloop);
    log(`${k} NDJSON streams: ndjson.stream ${offloop.toFixed(0)} MB/s, JSON.parse per line ${rival.toFixed(0)} MB/s`);
    rows.push({
      group: GROUP,
      name: `${k} concurrent NDJSON streams (${mb.toFixed(1)} MB each), aggregate`,
      offloop,
      rival,
      rivalName: 'split + JSON.parse per line',
      unit: 'MB/s',
      better: 'higher',
    });
  }
  const best = Math.max(...agg.values());
  const last = rows[rows.length - 1]!;
  last.goal = 'aggregate at 64 streams >= 90 % of the best level';
  last.goalMet = agg.get(64)! >= 0.9 * best;
  last.note = `${((agg.get(64)! / best) * 100).toFixed(0)} % of the best level`;
  return rows;
}

/**
 * Ops/s of a window held at `size` unfinished offsets: each step begins a new offset and succeeds
 * an old one, completing out of order within blocks of 64.
 */
function windowOpsPerSec(size: number, steps: number): number {
  const w = new CommitWindow({ maxInFlight: size + 64 });
  // A bijection within each block of 64 (37 is odd), so completions arrive out of order.
  const perm = (j: number) => j - (j % 64) + (((j % 64) * 37) % 64);
  for (let i = 0; i < size; i++) void w.begin(i);
  const t0 = performance.now();
  for (let i = size; i < size + steps; i++) {
    void w.begin(i);
    w.succeed(perm(i - size));
  }
  const ms = performance.now() - t0;
  return ((2 * steps) / ms) * 1000;
}

function commitWindow(): BenchRow[] {
  const steps = 2_000_000;
  const small = median([1, 2, 3].map(() => windowOpsPerSec(100, steps)));
  const large = median([1, 2, 3].map(() => windowOpsPerSec(1_000_000, steps)));
  const ratio = large / small;
  log(`CommitWindow: ${(small / 1e6).toFixed(2)} M ops/s at 100, ${(large / 1e6).toFixed(2)} M ops/s at 1 000 000`);
  return [
    {
      group: GROUP,
      name: 'CommitWindow begin+succeed at window 1 000 000',
      offloop: large,
      rival: small,
      rivalName: 'CommitWindow at window 100',
      unit: 'ops/s',
      better: 'higher',
      goal: 'flat: ops/s at 1 000 000 >= 0.8 x at 100',
      goalMet: ratio >= 0.8,
      note: `ratio ${ratio.toFixed(2)}`,
    },
  ];
}

export async function run(): Promise<BenchRow[]> {
  return [...(await bufferUnordered()), ...(await manyPipelines()), ...commitWindow()];
}
