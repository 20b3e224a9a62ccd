/** A small seeded generator (mulberry32) so test inputs are the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomFloat64(n: number, seed: number, scale = 1000): Float64Array {
  const rand = seeded(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() - 0.5) * scale;
  return out;
}
