// Requests a Hono app in workerd (Miniflare) answers per second: the npm
// package's `tollgate()` middleware against Hono's own `jwk()` middleware,
// once with `jwks_uri` (how its documentation sets it up; it fetches the
// JWKS on every request) and once handed the `keys`, and a bare app with no
// middleware as the ceiling. One app, one run, rounds interleaved.
//
// A Node HTTP server on 127.0.0.1 plays the issuer for both: the JWKS, and
// for tollgate() a revocation feed with nothing revoked (which tollgate()
// polls in the background; jwk() checks no revocation at all). Tokens are
// EdDSA and ES256, either one token reused for every request (a client
// calling the API again) or a new token each request (first-seen).
//   node edge-verifier/wasm/bench/hono.js [rounds, default 5] [requests a row, default 2000]
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { startHonoApp } from '../../../tests/harness/hono.js';
import { AUD, ISS, keys, mint } from '../tests/support.js';

const rounds = Number(process.argv[2] ?? 5);
const REQUESTS = Number(process.argv[3] ?? 2000);
const CONCURRENCY = 16;
const honoVersion = JSON.parse(readFileSync(new URL('../../../node_modules/hono/package.json', import.meta.url))).version;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const keySet = await keys();
// jwk() takes asymmetric keys only: the EdDSA and ES256 ones.
const jwks = { keys: keySet.jwks.keys.filter((key) => key.kty !== 'oct') };
const feed = { cursor: 'bench:0', reset: true, more: false, keys: '1', revoked: [] };

const issuer = createServer((request, response) => {
  const body = request.url.startsWith('/.well-known/jwks.json') ? jwks : feed;
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
});
await new Promise((resolve) => issuer.listen(0, '127.0.0.1', resolve));
const issuerUrl = `http://127.0.0.1:${issuer.address().port}`;

const app = `
import { Hono } from 'hono';
import { jwk } from 'hono/jwk';
import { tollgate } from 'tollgate-verifier/hono';

const verification = { iss: ${JSON.stringify(ISS)}, aud: ${JSON.stringify(AUD)}, typ: 'at+jwt' };
const alg = ['EdDSA', 'ES256'];
let keys;
const app = new Hono();
app.use('/tollgate/*', tollgate((c) => ({ issuerUrl: c.env.ISSUER_URL, issuer: ${JSON.stringify(ISS)}, audience: ${JSON.stringify(AUD)} })));
app.use('/jwk-uri/*', (c, next) => jwk({ jwks_uri: c.env.ISSUER_URL + '/.well-known/jwks.json', alg, verification })(c, next));
app.use('/jwk-keys/*', (c, next) => jwk({ keys: (keys ??= JSON.parse(c.env.JWKS).keys), alg, verification })(c, next));
const me = (c) => c.json({ sub: c.get('tollgate')?.sub ?? c.get('jwtPayload')?.sub ?? null });
app.get('/bare/me', me);
app.get('/tollgate/me', me);
app.get('/jwk-uri/me', me);
app.get('/jwk-keys/me', me);
app.onError((err, c) => c.text(String(err.cause ?? err), err.status ?? 500));
export default app;
`;

const IMPLS = ['bare', 'tollgate', 'jwk-uri', 'jwk-keys'];
const ALGS = { EdDSA: 'ed', ES256: 'es' };
const MODES = ['reused', 'first-seen'];
const hono = await startHonoApp(app, { ISSUER_URL: issuerUrl, JWKS: JSON.stringify(jwks) });

/** Requests per second for `REQUESTS` requests to `impl`, `CONCURRENCY` at a time. */
async function run(impl, tokens) {
  let next = 0;
  const worker = async () => {
    while (next < tokens.length) {
      const token = tokens[next++];
      const response = await hono.mf.dispatchFetch(`http://app.test/${impl}/me`, { headers: { authorization: `Bearer ${token}` } });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`${impl}: ${response.status} ${text}`);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return tokens.length / ((performance.now() - start) / 1000);
}

try {
  const rates = {};
  const tokensFor = async (alg, mode) => {
    if (mode === 'reused') return Array(REQUESTS).fill(await mint(keySet, { kid: ALGS[alg] }));
    return Promise.all(Array.from({ length: REQUESTS }, () => mint(keySet, { kid: ALGS[alg] })));
  };
  for (const impl of IMPLS) await run(impl, await tokensFor('EdDSA', 'first-seen')); // warm up
  for (let round = 0; round < rounds; round++) {
    for (const alg of Object.keys(ALGS)) {
      for (const mode of MODES) {
        // Every implementation gets its own tokens (first-seen stays first-seen),
        // in a different order each round.
        const order = IMPLS.map((_, i) => IMPLS[(i + round) % IMPLS.length]);
        for (const impl of order) {
          const key = `${alg} ${mode} ${impl}`;
          (rates[key] ??= []).push(await run(impl, await tokensFor(alg, mode)));
        }
      }
    }
  }
  if (process.env.BENCH_VERBOSE) console.error(rates);
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  // Ratios within each round (the same seconds for both), then their median.
  const paired = (row, impl, peer) => median(rates[`${row} ${impl}`].map((r, i) => r / rates[`${row} ${peer}`][i]));
  console.log(`Hono ${honoVersion} in workerd via Miniflare, node ${process.version}, ${REQUESTS} requests a row (${CONCURRENCY} at a time), median of ${rounds} rounds, ${new Date().toISOString()}`);
  console.log('| tokens | bare app /s | tollgate() /s | jwk() jwks_uri /s | jwk() keys /s | tollgate() vs jwk() jwks_uri | tollgate() vs jwk() keys |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const alg of Object.keys(ALGS)) {
    for (const mode of MODES) {
      const row = `${alg} ${mode}`;
      const cells = IMPLS.map((impl) => fmt(median(rates[`${row} ${impl}`])));
      console.log(`| ${row} | ${cells.join(' | ')} | **${paired(row, 'tollgate', 'jwk-uri').toFixed(2)}x** | **${paired(row, 'tollgate', 'jwk-keys').toFixed(2)}x** |`);
    }
  }
} finally {
  await hono.close();
  issuer.close();
}
