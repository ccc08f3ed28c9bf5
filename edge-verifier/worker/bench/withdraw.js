// How long after `tollgate-issuer keys withdraw KID` each kind of verifier
// refuses a token signed by that key: the edge (workerd), tollgate-axum (the
// demo origin, natively) and the npm package's createVerifier (in this
// process). All three run the verifier crate's defaults (docs/verifier.md) (max age 1 s; refresh ahead
// at 100 ms at the edge, 500 ms elsewhere), against the real issuer binary.
// The bound to beat is max age + 100 ms = 1,100 ms.
//
// Each trial logs in (a token of the current key), checks that all three
// accept it, withdraws the key with the CLI, and polls all three every 5 ms
// until each refuses. The clock starts when the CLI has exited, so it
// leaves out the CLI's own start-up but includes everything after its commit.
//   node edge-verifier/worker/bench/withdraw.js [trials=25]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import { createVerifier } from '../../wasm/pkg/node.js';
import { ISSUER_BIN, login, sleep } from '../../../tests/harness/issuer.js';
import { startStack } from '../../../tests/harness/stack.js';

const TRIALS = Number(process.argv[2] ?? 25);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-withdraw-'));
const stack = await startStack({
  dir,
  issuerEnv: { TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT: '100000', TOLLGATE_LOGIN_LIMIT_PER_ADDRESS: '100000' },
});
const npm = await createVerifier({ issuerUrl: stack.issuerUrl, issuer: 'tollgate', audience: 'tollgate-api' });

const status = async (url, token) => {
  const reply = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const body = await reply.text();
  if (reply.status !== 200 && reply.status !== 401) console.error(url, reply.status, body);
  if (reply.status === 401 && !body.includes('unknown_kid')) console.error(url, reply.status, body);
  return reply.status;
};
const verifiers = {
  'edge worker (workerd)': (token) => status(`${stack.edgeUrl}/api/todos`, token),
  'tollgate-axum (demo origin)': (token) => status(`${stack.originUrl}/api/todos`, token),
  'npm createVerifier (Node)': (token) => npm.verify(token).then(() => 200, (error) => (error.code === 'unknown_kid' ? 401 : 500)),
};

/** Polls `check` every 5 ms until it answers 401; returns ms since `t0`. */
async function untilRefused(check, token, t0) {
  for (;;) {
    const code = await check(token);
    if (code === 401) return performance.now() - t0;
    if (code !== 200) throw new Error(`unexpected ${code}`);
    if (performance.now() - t0 > 10_000) throw new Error('still accepted after 10 s');
    await sleep(5);
  }
}

const delays = Object.fromEntries(Object.keys(verifiers).map((name) => [name, []]));
try {
  for (let trial = 0; trial < TRIALS; trial++) {
    const tokens = await login(stack.issuerUrl, `withdraw${trial % 5}@example.com`, `device-${trial}`);
    for (const [name, check] of Object.entries(verifiers)) {
      if ((await check(tokens.access_token)) !== 200) throw new Error(`${name} refused a fresh token`);
    }
    await sleep(Math.random() * 1000); // a random point of every verifier's sync cycle
    const { kid } = jose.decodeProtectedHeader(tokens.access_token);
    execFileSync(ISSUER_BIN, ['keys', 'withdraw', kid], { env: { ...process.env, ...stack.issuerEnv, RUST_LOG: 'warn' } });
    const t0 = performance.now();
    const results = await Promise.all(Object.values(verifiers).map((check) => untilRefused(check, tokens.access_token, t0)));
    Object.keys(verifiers).forEach((name, i) => delays[name].push(results[i]));
  }
} finally {
  npm.close();
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};
console.log(`node ${process.version}, ${new Date().toISOString()}, ${TRIALS} trials, max age 1000 ms (bound 1100 ms)`);
console.log('| verifier | p50 | p99 | max |');
console.log('|---|---:|---:|---:|');
for (const [name, values] of Object.entries(delays)) {
  console.log(`| ${name} | ${quantile(values, 0.5).toFixed(0)} ms | ${quantile(values, 0.99).toFixed(0)} ms | ${Math.max(...values).toFixed(0)} ms |`);
}
