/** Shared benchmark plumbing: rows, timing, statistics. */
export interface BenchRow {
  /** Section of the report. */
  group: string;
  /** What was measured. */
  name: string;
  /** offloop's measurement. */
  offloop: number;
  /** The rival's measurement, taken in the same run. */
  rival: number;
  rivalName: string;
  unit: string;
  /** Whether a lower or a higher number is better for this measurement. */
  better: 'lower' | 'higher';
  /** The target from the issue, in words, if there is one. */
  goal?: string;
  /** Whether the goal is met, when it can be decided from this row. */
  goalMet?: boolean;
  note?: string;
}

/** How many times better offloop is than the rival (> 1: offloop wins). */
export function advantage(row: BenchRow): number {
  return row.better === 'lower' ? row.rival / row.offloop : row.offloop / row.rival;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Median wall time of `runs` calls, after `warmup` untimed calls. */
export async function timeMs(fn: () => unknown, runs = 7, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/**
 * Median wall time of calls repeated until they have taken `budgetMs` in all (at least `minRuns`,
 * at most `maxRuns`), after two untimed calls: a call of half a millisecond timed only seven
 * times gives a median that moves with whatever the VM or the GC did in those few milliseconds.
 */
export async function timeMsFor(fn: () => unknown, budgetMs = 200, minRuns = 7, maxRuns = 400): Promise<number> {
  return (await timeStatsFor(fn, budgetMs, minRuns, maxRuns)).median;
}

/**
 * `timeMsFor`'s runs, with both their median and their best (shortest) time. Throughput that a
 * goal states per core is quoted from the best run: on this shared VM a slow phase of a few
 * seconds slows every call in it (JSON.parse as much as offloop) by up to half, so the median
 * says which phase the runs fell in, and the best says what the code does on the core.
 */
export async function timeStatsFor(fn: () => unknown, budgetMs = 200, minRuns = 7, maxRuns = 400): Promise<{ median: number; best: number; runs: number }> {
  await fn();
  await fn();
  const times: number[] = [];
  let total = 0;
  while (times.length < maxRuns && (times.length < minRuns || total < budgetMs)) {
    const t0 = performance.now();
    await fn();
    const t = performance.now() - t0;
    times.push(t);
    total += t;
  }
  return { median: median(times), best: Math.min(...times), runs: times.length };
}

/**
 * Medians of `a` and `b` timed alternately (a, b, a, b, ...), for a measurement and the machine
 * reference it is quoted against: a slow phase of this shared VM then slows both alike.
 */
export async function pairedMs(a: () => unknown, b: () => unknown, runs = 5, warmup = 1): Promise<[number, number]> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    await a();
    ta.push(performance.now() - t0);
    t0 = performance.now();
    await b();
    tb.push(performance.now() - t0);
  }
  return [median(ta), median(tb)];
}

export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}
