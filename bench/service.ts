/**
 * The service scenario: a node:http server (its own process) with a cheap endpoint and an ingest
 * endpoint that parses a 5 MB JSON body. A load generator sends cheap requests at a fixed rate
 * while a second client posts an ingest every 100 ms; we report the cheap endpoint's latency
 * percentiles with the ingest parsed by `JSON.parse` vs by offloop's `json.parse`.
 *
 * The generator is open-loop: each request has a scheduled send time and its latency counts from
 * that time, so requests that could not even be sent while the server was stalled count their wait.
 * A closed-loop generator (one request per connection at a time, as autocannon) only measures the
 * handful of requests caught in a stall and so hides it from every percentile but the max.
 */
import http from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { percentile } from './util.js';

export interface ServiceResult {
  p50: number;
  p99: number;
  max: number;
  requests: number;
  ingests: number;
  /** Cheap requests that failed (counted, not timed). */
  failed: number;
}

export type ServiceMode = 'JSON.parse' | 'offloop' | 'offloop-select' | 'body-only';

async function startServer(mode: ServiceMode): Promise<{ port: number; stop: () => void }> {
  const script = fileURLToPath(new URL('./service-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`service server exited with ${code}`)));
  });
  return { port, stop: () => child.kill('SIGKILL') };
}

function get(agent: http.Agent, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ port, host: '127.0.0.1', path: '/cheap', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
  });
}

export async function runService(
  mode: ServiceMode,
  body: Buffer,
  durationS = 8,
  ratePerS = 1000,
  ingestEveryMs = 100,
): Promise<ServiceResult> {
  const { port, stop } = await startServer(mode);
  const cheapAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const ingestAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let ingests = 0;
  let running = true;
  const poster = (async () => {
    while (running) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ port, host: '127.0.0.1', path: '/ingest', method: 'POST', agent: ingestAgent }, (res) => {
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
  const latencies: number[] = [];
  const inFlight: Promise<void>[] = [];
  let failed = 0;
  try {
    await get(cheapAgent, port);
    const t0 = performance.now();
    const total = Math.round(durationS * ratePerS);
    let sent = 0;
    while (sent < total) {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - t0) / 1000) * ratePerS));
      for (; sent < due; sent++) {
        const scheduled = t0 + (sent / ratePerS) * 1000;
        // Handled at once: a request failing during the send loop must not be an unhandled rejection.
        inFlight.push(
          get(cheapAgent, port).then(
            () => void latencies.push(performance.now() - scheduled),
            () => void failed++,
          ),
        );
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(inFlight);
    return {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: Math.max(...latencies),
      requests: latencies.length,
      ingests,
      failed,
    };
  } finally {
    running = false;
    await poster.catch(() => undefined);
    cheapAgent.destroy();
    ingestAgent.destroy();
    stop();
  }
}
