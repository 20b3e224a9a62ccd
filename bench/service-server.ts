/**
 * The server half of the service scenario, run in its own process so the load generator does not
 * share its event loop. argv[2] picks the ingest parser: "JSON.parse" or "offloop".
 * Prints the port it listens on, then serves until killed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { json } from '../lib/index.js';

const mode = process.argv[2];
const parse =
  mode === 'offloop'
    ? (body: Buffer): Promise<unknown> => json.parse(body)
    : (body: Buffer): unknown => JSON.parse(body.toString('utf8'));

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const server = http.createServer((req, res) => {
  if (req.url === '/ingest') {
    readBody(req)
      .then((body) => parse(body))
      .then((value) => res.end(String((value as { items?: unknown[] }).items?.length ?? 0)))
      .catch((err: unknown) => {
        res.statusCode = 400;
        res.end(String(err));
      });
    return;
  }
  res.end('ok');
});
// Longer than a run: Node's default 5 s lets the server close a keep-alive socket that the load
// generator has idle in its pool just as it reuses it (ECONNRESET), a race that ended one run.
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
