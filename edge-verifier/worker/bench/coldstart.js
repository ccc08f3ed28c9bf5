// Cold start of the edge worker in workerd (Miniflare), locally:
//   - start: `new Miniflare(...)` until ready (workerd up, the module and
//     its wasm compiled), for the edge and for a pass-through worker;
//   - first verified response: a fresh edge's first request with a valid
//     token (it loads the snapshot and the JWKS, verifies, forwards), minus
//     the time the issuer spent answering those fetches (measured at a
//     proxy in front of it): the edge's own cold-start cost;
//   - the same first request through a fresh pass-through worker.
// Median of 10 fresh starts each. Prints markdown for docs/BENCHMARKS.md.
// The optional argument sets the edge's SHARED_FEED (default on, as in
// wrangler.toml); off leaves out the data-center cache lookups, which
// Miniflare makes far slower than Cloudflare does.
//   node edge-verifier/worker/bench/coldstart.js [on|off]
import { createServer, request as httpRequest } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { startOrigin, workerOptions } from '../../../tests/harness/edge.js';
import { login, startIssuer } from '../../../tests/harness/issuer.js';

const issuer = await startIssuer();
const origin = await startOrigin();
let issuerMs = 0;
// A proxy that adds nothing but measures how long the issuer takes.
const proxy = createServer((req, res) => {
  const started = performance.now();
  const upstream = httpRequest(`${issuer.url}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
    const body = [];
    up.on('data', (c) => body.push(c));
    up.on('end', () => {
      issuerMs += performance.now() - started;
      res.writeHead(up.statusCode, up.headers);
      res.end(Buffer.concat(body));
    });
  });
  req.pipe(upstream);
});
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const proxyUrl = `http://127.0.0.1:${proxy.address().port}`;
const tokens = await login(issuer.url, 'cold@example.com');
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const rows = { edgeStart: [], passStart: [], edgeFirst: [], edgeIssuer: [], passFirst: [] };
try {
  for (let i = 0; i < 10; i++) {
    let t = performance.now();
    const edge = new Miniflare(workerOptions({
      ISSUER_URL: proxyUrl, ORIGIN_URL: origin.url, ISSUER: 'tollgate', AUDIENCE: 'tollgate-api',
      SHARED_FEED: process.argv[2] ?? 'on',
    }));
    await edge.ready;
    rows.edgeStart.push(performance.now() - t);
    issuerMs = 0;
    t = performance.now();
    const reply = await edge.dispatchFetch('http://edge.test/api/x', { headers: { authorization: `Bearer ${tokens.access_token}` } });
    await reply.text();
    if (reply.status !== 200) throw new Error(`first request: ${reply.status}`);
    rows.edgeFirst.push(performance.now() - t);
    rows.edgeIssuer.push(issuerMs);
    await edge.dispose();

    t = performance.now();
    const pass = new Miniflare({
      modules: true, compatibilityDate: '2025-09-01', bindings: { ORIGIN_URL: origin.url },
      script: 'export default { fetch(r, env) { const u = new URL(r.url); return fetch(env.ORIGIN_URL + u.pathname, { headers: r.headers }); } }',
    });
    await pass.ready;
    rows.passStart.push(performance.now() - t);
    t = performance.now();
    await (await pass.dispatchFetch('http://edge.test/api/x', { headers: { authorization: `Bearer ${tokens.access_token}` } })).text();
    rows.passFirst.push(performance.now() - t);
    await pass.dispose();
  }
} finally {
  proxy.close();
  await origin.close();
  await issuer.cleanup();
}

const build = fileURLToPath(new URL('../build/', import.meta.url));
const wasm = readFileSync(build + readdirSync(build).find((f) => f.endsWith('.wasm')));
const own = rows.edgeFirst.map((ms, i) => ms - rows.edgeIssuer[i]);
const f = (x) => `${x.toFixed(1)} ms`;
console.log(`node ${process.version}, ${new Date().toISOString()}, median of 10 fresh starts; wasm ${wasm.length} bytes (${gzipSync(wasm, { level: 9 }).length} gzip)`);
console.log('| measure | edge worker | pass-through worker |');
console.log('|---|---:|---:|');
console.log(`| start (new Miniflare until ready) | ${f(median(rows.edgeStart))} | ${f(median(rows.passStart))} |`);
console.log(`| first request, end to end | ${f(median(rows.edgeFirst))} | ${f(median(rows.passFirst))} |`);
console.log(`| of which the issuer answering (snapshot + JWKS) | ${f(median(rows.edgeIssuer))} | - |`);
console.log(`| **first verified response, without the issuer** | **${f(median(own))}** | ${f(median(rows.passFirst))} |`);
