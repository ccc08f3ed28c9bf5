// The cost around the signature, in Node (the V8 that workerd runs too):
// createVerifier and jose's jwtVerify over first-seen ES256 tokens with
// WebCrypto's verify replaced by a stub that answers `true`, so what is left
// is parsing, claims, revocation, caches and the calls between JS and wasm.
// Both go to the same WebCrypto call for the real signature, so this is the
// whole of the difference between them. Best of 5 passes over a pool larger
// than the token cache, twice, interleaved. Prints microseconds per token.
//   node edge-verifier/wasm/bench/overhead.js
import * as jose from 'jose';
import { createVerifier } from '../pkg/node.js';
import { AUD, ISS, keys, mint } from '../tests/support.js';
import { staticIssuerFetch } from './static-issuer.js';

const keySet = await keys();
const POOL = 12_000;
const pool = [];
while (pool.length < POOL) pool.push(...(await Promise.all(Array.from({ length: 500 }, () => mint(keySet, { kid: 'es' })))));
const long = 3_600_000;
const split = await createVerifier({
  issuerUrl: 'http://issuer.bench', issuer: ISS, audience: AUD,
  maxAgeMs: long, refreshAheadMs: long, failAfterMs: long, fetch: staticIssuerFetch(keySet.jwks),
});
const key = await jose.importJWK(keySet.jwks.keys.find((k) => k.kid === 'es'), 'ES256');
crypto.subtle.verify = async () => true;

let next = 0; // one walk over the pool for everything, so no token is met twice within the cache's reach
async function microsPerToken(fn) {
  let best = Infinity;
  for (let pass = 0; pass < 5; pass++) {
    const start = performance.now();
    for (let i = 0; i < POOL; i++) await fn(pool[next++ % POOL]);
    best = Math.min(best, ((performance.now() - start) / POOL) * 1000);
  }
  return best;
}

const rows = { createVerifier: [], jose: [] };
for (let round = 0; round < 2; round++) {
  rows.createVerifier.push(await microsPerToken((t) => split.verify(t)));
  rows.jose.push(await microsPerToken((t) => jose.jwtVerify(t, key, { issuer: ISS, audience: AUD, typ: 'at+jwt' })));
}
const best = (xs) => Math.min(...xs);
console.log(`node ${process.version}, ${new Date().toISOString()}, signature stubbed, µs per first-seen ES256 token`);
console.log(`| createVerifier | jose | ratio |`);
console.log(`|---:|---:|---:|`);
console.log(`| ${best(rows.createVerifier).toFixed(1)} | ${best(rows.jose).toFixed(1)} | ${(best(rows.createVerifier) / best(rows.jose)).toFixed(2)}x |`);
