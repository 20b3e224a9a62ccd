/** Synthetic inputs for benchmarks, generated from a fixed seed so every run sees the same bytes. */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const corpusDir = fileURLToPath(new URL('../../shared/corpus/', import.meta.url));

export function corpusFile(rel: string): Buffer | undefined {
  const p = join(corpusDir, rel);
  return existsSync(p) ? readFileSync(p) : undefined;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu', 'naïve', 'café', 'Zürich', '東京', 'emoji 🎉'];
const TAGS = ['new', 'sale', 'featured', 'clearance', 'limited', 'bundle'];

/** One API-like record: ids, names, prices, nested arrays and objects, booleans, nulls. */
function record(r: () => number, i: number): unknown {
  const w = (): string => WORDS[Math.floor(r() * WORDS.length)]!;
  return {
    id: i,
    sku: `SKU-${Math.floor(r() * 1e8).toString(36)}`,
    name: `${w()} ${w()} ${w()}`,
    price: Math.round(r() * 1e6) / 100,
    rating: r() < 0.1 ? null : Math.round(r() * 50) / 10,
    inStock: r() < 0.7,
    tags: Array.from({ length: Math.floor(r() * 4) }, () => TAGS[Math.floor(r() * TAGS.length)]),
    dims: { w: r() * 100, h: r() * 100, d: r() * 100 },
    seller: { id: Math.floor(r() * 1e5), name: `${w()} store`, verified: r() < 0.5 },
    description: `${w()} ${w()} ${w()} ${w()} ${w()} ${w()} ${w()} ${w()}`,
  };
}

/** A JSON document `{ "items": [...] }` of about `bytes` bytes. */
export function generateDocument(bytes: number, seed = 42): Buffer {
  const r = rng(seed);
  const parts: string[] = [];
  let size = 12;
  for (let i = 0; size < bytes; i++) {
    const s = JSON.stringify(record(r, i));
    parts.push(s);
    size += Buffer.byteLength(s) + 1;
  }
  return Buffer.from(`{"items":[${parts.join(',')}]}`);
}

/** NDJSON of about `bytes` bytes, one record per line. */
export function generateNdjson(bytes: number, seed = 7): Buffer {
  const r = rng(seed);
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const s = JSON.stringify(record(r, i));
    lines.push(s);
    size += Buffer.byteLength(s) + 1;
  }
  return Buffer.from(lines.join('\n') + '\n');
}
