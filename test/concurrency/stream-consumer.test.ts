import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runConsumer(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'examples/stream-consumer.ts', ...args],
      { cwd: root, timeout: 60_000 },
      (error, stdout) => {
        if (error && typeof error.code !== 'number') reject(error);
        else resolve({ code: error ? Number(error.code) : 0, stdout });
      },
    );
  });
}

const committedIn = (dir: string) =>
  (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { committed: number }).committed;

describe('examples/stream-consumer.ts', () => {
  it('crashes, resumes from the committed offset, and processes every record at least once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'offloop-consumer-'));
    const records = 3000;
    try {
      const first = await runConsumer(['--dir', dir, '--records', String(records), '--crash-after', '800']);
      expect(first.code).toBe(3);
      const afterFirst = committedIn(dir);
      expect(afterFirst).toBeGreaterThan(0);
      expect(afterFirst).toBeLessThan(records);

      const second = await runConsumer(['--dir', dir, '--crash-after', '900']);
      expect(second.code).toBe(3);
      expect(second.stdout).toContain(`resuming from offset ${afterFirst}`);
      const afterSecond = committedIn(dir);
      expect(afterSecond).toBeGreaterThan(afterFirst);

      const third = await runConsumer(['--dir', dir]);
      expect(third.code).toBe(0);
      expect(third.stdout).toContain(`resuming from offset ${afterSecond}`);
      expect(committedIn(dir)).toBe(records);

      const processed = readFileSync(join(dir, 'processed.log'), 'utf8').trim().split('\n').map(Number);
      expect(new Set(processed)).toEqual(new Set(Array.from({ length: records }, (_, i) => i)));
      // Only what was in flight at a crash (at most maxInFlight = 16 each time) is processed twice.
      expect(processed.length).toBeLessThanOrEqual(records + 2 * 16);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
