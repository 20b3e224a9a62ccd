/**
 * The service scenario: a node:http server (its own process) with a cheap endpoint and an ingest
 * endpoint that parses a 5 MB JSON body. autocannon keeps steady load on the cheap endpoint while a
 * second client posts an ingest every 100 ms; we report the cheap endpoint's latency percentiles
 * with the ingest parsed by `JSON.parse` vs by offloop's `json.parse`.
 */
import http from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export interface ServiceResult {
  p50: number;
  p99: number;
  max: number;
  requests: number;
  ingests: number;
}

async function startServer(mode: 'JSON.parse' | 'offloop'): Promise<{ port: number; stop: () => void }> {
  const script = fileURLToPath(new URL('./service-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`service server exited with ${code}`)));
  });
  return { port, stop: () => child.kill('SIGKILL') };
}

export async function runService(
  mode: 'JSON.parse' | 'offloop',
  body: Buffer,
  durationS = 8,
  ingestEveryMs = 100,
): Promise<ServiceResult> {
  const { port, stop } = await startServer(mode);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let ingests = 0;
  let posting = true;
  const poster = (async () => {
    while (posting) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ port, host: '127.0.0.1', path: '/ingest', method: 'POST', agent }, (res) => {
          if (res.statusCode !== 200) reject(new Error(`ingest answered ${res.statusCode}`));
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end(body);
      });
      ingests++;
      await new Promise((r) => setTimeout(r, ingestEveryMs));
    }
  })();
  try {
    const result = await autocannon({ url: `http://127.0.0.1:${port}/cheap`, connections: 10, duration: durationS });
    return { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, requests: result.requests.total, ingests };
  } finally {
    posting = false;
    await poster.catch(() => undefined);
    agent.destroy();
    stop();
  }
}
