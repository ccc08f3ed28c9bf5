// The cost around the signature, in Node (the V8 that workerd runs too):
// createVerifier and jose's jwtVerify over first-seen ES256 tokens with
// WebCrypto's verify replaced by a stub that answers `true`, so what is left
// is parsing, claims, revocation, caches and the calls between JS and wasm.
// Both go to the same WebCrypto call for the real signature, so this is the
// whole of the difference between them. Best of 5 passes over a pool larger
// than the token cache, three times, interleaved. Prints microseconds per token.
//   node edge-verifier/wasm/bench/overhead.js
// Given package directories (copies of `pkg/`, say with another build of
// the lean wasm in place), it times each one's lean build (the workerd
// and browser one) instead of the Node build, all beside jose in one run:
//   node edge-verifier/wasm/bench/overhead.js /tmp/pkg-a /tmp/pkg-b
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as jose from 'jose';
import { createVerifier } from '../pkg/node.js';
import { AUD, ISS, keys, mint } from '../tests/support.js';
import { staticIssuerFetch } from './static-issuer.js';

const keySet = await keys();
const POOL = 12_000;
const pool = [];
while (pool.length < POOL) pool.push(...(await Promise.all(Array.from({ length: 500 }, () => mint(keySet, { kid: 'es' })))));
const long = 3_600_000;
const options = {
  issuerUrl: 'http://issuer.bench', issuer: ISS, audience: AUD,
  maxAgeMs: long, refreshAheadMs: long, failAfterMs: long, fetch: staticIssuerFetch(keySet.jwks),
};

/** Each package directory's lean build, bound as the workerd entry binds it. */
async function leanCreateVerifier(dir) {
  const base = pathToFileURL(`${resolve(dir)}/`);
  const wasm = await import(new URL('tollgate_verifier_lean.js', base));
  wasm.initSync({ module: readFileSync(new URL('tollgate_verifier_lean_bg.wasm', base)) });
  const api = await import(new URL('api.js', base));
  api.bind(wasm, ['EdDSA', 'ES256', 'HS256']);
  return api.createVerifier;
}

const dirs = process.argv.slice(2);
const subjects = dirs.length === 0
  ? [['createVerifier', await createVerifier(options)]]
  : await Promise.all(dirs.map(async (dir) => [`${dir} (lean)`, await (await leanCreateVerifier(dir))(options)]));
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

const rows = new Map([...subjects.map(([name]) => [name, []]), ['jose', []]]);
for (let round = 0; round < 3; round++) {
  for (const [name, verifier] of subjects) rows.get(name).push(await microsPerToken((t) => verifier.verify(t)));
  rows.get('jose').push(await microsPerToken((t) => jose.jwtVerify(t, key, { issuer: ISS, audience: AUD, typ: 'at+jwt' })));
}
const best = (xs) => Math.min(...xs);
const joseMicros = best(rows.get('jose'));
console.log(`node ${process.version}, ${new Date().toISOString()}, signature stubbed, µs per first-seen ES256 token`);
console.log(`| verifier | µs | jose µs | ratio |`);
console.log(`|---|---:|---:|---:|`);
for (const [name] of subjects) {
  const ours = best(rows.get(name));
  console.log(`| ${name} | ${ours.toFixed(2)} | ${joseMicros.toFixed(2)} | ${(ours / joseMicros).toFixed(2)}x |`);
}
