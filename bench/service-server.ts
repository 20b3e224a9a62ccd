/**
 * The server half of the service scenario, run in its own process so the load generator does not
 * share its event loop. argv[2] picks the ingest handler: "JSON.parse", "offloop" (json.parse),
 * "offloop-select" (json.select of the ids) or "body-only" (no parse).
 * Prints the port it listens on, then serves until killed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { json } from '../lib/index.js';

const mode = process.argv[2];
const parsers: Record<string, (body: Buffer) => unknown> = {
  'JSON.parse': (body) => JSON.parse(body.toString('utf8')),
  offloop: (body) => json.parse(body),
  // What a handler that needs only some fields would do: nothing else becomes a JS object.
  'offloop-select': async (body) => ({ items: (await json.select(body, { ids: '/items/*/id' })).ids }),
  // The harness alone: the body is read and not parsed (the floor under every other mode).
  'body-only': (body) => ({ items: { length: body.length } }),
};
const parse = parsers[mode ?? ''];
if (parse === undefined) throw new Error(`unknown mode ${String(mode)}`);

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
