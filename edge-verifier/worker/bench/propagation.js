// Revocation propagation and edge overhead, with the worker in workerd
// (Miniflare), a live issuer process and a local origin.
//   - 100 logouts: after each 204, requests go through the edge every 5 ms
//     until one is refused; time from the 204 to the first 401.
//   - 1,000 requests through the edge to the origin, and 1,000 straight to
//     the origin, in one run.
// Prints markdown for docs/BENCHMARKS.md.
//   node edge-verifier/worker/bench/propagation.js
import { readdirSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startEdge, startOrigin } from '../../../tests/harness/edge.js';
import { login, post, sleep, startIssuer } from '../../../tests/harness/issuer.js';

const MAX_AGE_MS = 1000;
const issuer = await startIssuer({ TOLLGATE_LOGIN_LIMIT_PER_ADDRESS: '100000', TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT: '100000' });
const origin = await startOrigin();
const edge = await startEdge({ ISSUER_URL: issuer.url, ORIGIN_URL: origin.url, REVOCATION_MAX_AGE_MS: String(MAX_AGE_MS) });

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};
const ms = (x) => `${x.toFixed(1)} ms`;

try {
  const delays = [];
  for (let i = 0; i < 100; i++) {
    const tokens = await login(issuer.url, `prop${i % 5}@example.com`, `device-${i}`);
    const first = await edge.send('/api/todos', { token: tokens.access_token });
    if (first.status !== 200) throw new Error(`fresh token refused: ${JSON.stringify(first.body)}`);
    // Start at a random point of the edge's sync cycle.
    await sleep(Math.random() * MAX_AGE_MS);
    const { status } = await post(`${issuer.url}/v1/auth/logout`, null, tokens.access_token);
    if (status !== 204) throw new Error(`logout: ${status}`);
    const loggedOut = performance.now();
    for (;;) {
      const reply = await edge.send('/api/todos', { token: tokens.access_token });
      if (reply.status === 401 && reply.body.code === 'revoked') break;
      if (reply.status !== 200) throw new Error(`unexpected ${reply.status}`);
      await sleep(5);
    }
    delays.push(performance.now() - loggedOut);
  }

  const tokens = await login(issuer.url, 'overhead@example.com', 'bench');
  const through = [];
  const direct = [];
  for (let i = 0; i < 1000; i++) {
    let t = performance.now();
    const reply = await edge.send('/api/todos', { token: tokens.access_token });
    through.push(performance.now() - t);
    if (reply.status !== 200) throw new Error(`edge: ${reply.status}`);
    t = performance.now();
    await (await fetch(`${origin.url}/api/todos`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).text();
    direct.push(performance.now() - t);
  }

  const build = fileURLToPath(new URL('../build/', import.meta.url));
  const wasm = readdirSync(build).find((f) => f.endsWith('.wasm'));
  const js = readdirSync(build).filter((f) => f.endsWith('.js')).reduce((n, f) => n + statSync(build + f).size, 0);
  const wasmBytes = readFileSync(build + wasm);

  console.log(`node ${process.version}, ${new Date().toISOString()}, REVOCATION_MAX_AGE_MS=${MAX_AGE_MS}`);
  console.log('| measure | p50 | p99 | max |');
  console.log('|---|---:|---:|---:|');
  console.log(`| logout 204 -> first 401 at the edge (n=${delays.length}) | ${ms(quantile(delays, 0.5))} | ${ms(quantile(delays, 0.99))} | ${ms(Math.max(...delays))} |`);
  console.log(`| request through the edge to the origin (n=1000) | ${ms(quantile(through, 0.5))} | ${ms(quantile(through, 0.99))} | ${ms(Math.max(...through))} |`);
  console.log(`| request straight to the origin (n=1000) | ${ms(quantile(direct, 0.5))} | ${ms(quantile(direct, 0.99))} | ${ms(Math.max(...direct))} |`);
  console.log(`bundle: ${wasm} ${wasmBytes.length} bytes (${gzipSync(wasmBytes, { level: 9 }).length} gzip), JS ${js} bytes`);
} finally {
  await edge.close();
  await origin.close();
  await issuer.cleanup();
}
