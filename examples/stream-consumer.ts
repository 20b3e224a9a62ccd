/**
 * A crash-safe stream consumer: NDJSON records are processed concurrently and out of order, while a
 * CommitWindow tracks which offsets are done and the last committable offset is persisted. Killed
 * at any point, a restart resumes from that offset: every record is processed at least once.
 *
 * Run:  npx tsx examples/stream-consumer.ts [--dir DIR] [--records N] [--crash-after K]
 *   --dir          working directory for input.ndjson, state.json and processed.log (default: $TMPDIR/offloop-stream-demo)
 *   --records      records the producer writes on the first run (default 5000)
 *   --crash-after  exit abruptly (exit code 3) after processing K records in this run
 */
import { appendFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { CommitWindow, mapConcurrent, ndjson } from '../lib/index.js';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: join(tmpdir(), 'offloop-stream-demo') },
    records: { type: 'string', default: '5000' },
    'crash-after': { type: 'string' },
  },
});
const dir = args.dir!;
const input = join(dir, 'input.ndjson');
const stateFile = join(dir, 'state.json');
const processedLog = join(dir, 'processed.log');
const crashAfter = args['crash-after'] === undefined ? Number.POSITIVE_INFINITY : Number(args['crash-after']);

/** The producer: appends one JSON record per line, the way a log or topic segment grows. */
async function produce(count: number): Promise<void> {
  const out = createWriteStream(input);
  for (let id = 0; id < count; id++) {
    const line = JSON.stringify({ id, user: `u${id % 97}`, amount: (id * 31) % 1000 }) + '\n';
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

function loadCommitted(): number {
  if (!existsSync(stateFile)) return 0;
  return (JSON.parse(readFileSync(stateFile, 'utf8')) as { committed: number }).committed;
}

/** Write-then-rename, so a crash mid-write never leaves a torn state file. */
function saveCommitted(committed: number): void {
  writeFileSync(`${stateFile}.tmp`, JSON.stringify({ committed }));
  renameSync(`${stateFile}.tmp`, stateFile);
}

/** Offsets are record ordinals (the producer writes no blank lines), starting at 0. */
async function* records(from: number, window: CommitWindow): AsyncGenerator<{ offset: number; record: { id: number } }> {
  let offset = 0;
  for await (const batch of ndjson.stream(createReadStream(input, { highWaterMark: 64 * 1024 }), { batchBytes: 64 * 1024 })) {
    for (const record of batch) {
      if (offset >= from) {
        // Registering here, in source order, keeps offsets increasing and lets the window's
        // backpressure slow down reading.
        await window.begin(offset);
        yield { offset, record: record as { id: number } };
      }
      offset++;
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

mkdirSync(dir, { recursive: true });
if (!existsSync(input)) await produce(Number(args.records));
const committed = loadCommitted();
console.log(`resuming from offset ${committed}`);

let lastPrinted = committed;
const window = new CommitWindow({
  maxInFlight: 16,
  start: committed,
  // Synchronous, so the state file is updated before the next message is handled.
  onCommit: (c) => {
    saveCommitted(c);
    if (c - lastPrinted >= 1000) {
      console.log(`committed ${c}`);
      lastPrinted = c;
    }
  },
});

let processed = 0;
const work = mapConcurrent(
  records(committed, window),
  async ({ offset, record }) => {
    // Simulated I/O with uneven latency, so records finish out of order.
    await sleep((record.id * 7) % 3);
    // One in fifty attempts fails transiently; the window holds the commit back until the retry succeeds.
    if (record.id % 50 === 7 && Math.random() < 0.5) {
      window.fail(offset, new Error(`transient failure on ${record.id}`));
      await sleep(1);
      window.retry(offset);
    }
    appendFileSync(processedLog, `${record.id}\n`);
    window.succeed(offset);
    if (++processed >= crashAfter) {
      console.log(`crashing after ${processed} records (committed ${window.committable})`);
      process.exit(3);
    }
  },
  { concurrency: 16, ordered: false },
);
for await (const _ of work) {
  // Results are not needed: progress is tracked by the window.
}
console.log(`done: committed ${window.committable}, processed ${processed} records in this run`);
