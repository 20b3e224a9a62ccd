import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './child.js';

/** The shared corpus (`../shared/corpus` beside the repository). */
export const corpusDir = join(repoRoot, '..', 'shared', 'corpus');
export const hasCorpus = existsSync(corpusDir);

export function corpus(rel: string): Buffer {
  return readFileSync(join(corpusDir, rel));
}

export function corpusList(rel: string): string[] {
  return readdirSync(join(corpusDir, rel)).sort();
}

/** What JSON.parse says about bytes decoded as strict UTF-8: the value, or that it throws. */
export function reference(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
