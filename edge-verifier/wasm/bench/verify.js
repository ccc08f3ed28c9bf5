// Verifications per second: the npm package (wasm) against jose, in one run.
// For each algorithm: tollgate-verifier with its token cache off (every call
// checks the signature), jose's awaited jwtVerify, and jose with 64
// verifications in flight. Then a cache hit. Each case runs five times,
// interleaved, and the median is reported: single runs on a shared machine
// swing by a third. Prints a markdown table.
// A second table has what a service meets: tokens it has not seen before
// (a pool larger than the token cache, cycled), through createVerifier (in
// Node: ES256 signatures by WebCrypto, EdDSA in wasm, where each is faster),
// against the synchronous Verifier and jose, awaited one at a time.
//   node edge-verifier/wasm/bench/verify.js [seconds per run, default 1]
import * as jose from 'jose';
import { Verifier, createVerifier } from '../pkg/node.js';
import { AUD, ISS, UPSTREAM_ISS, keys, mint } from '../tests/support.js';
import { staticIssuerFetch } from './static-issuer.js';

const seconds = Number(process.argv[2] ?? 1);
const RUNS = 5;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const keySet = await keys({ upstream: true });
const options = { issuer: ISS, audience: AUD, typ: 'at+jwt' };

async function rate(fn) {
  for (let i = 0; i < 200; i++) await fn(); // warm up
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) await fn();
    n += 50;
  }
  return n / seconds;
}

function syncRate(fn) {
  for (let i = 0; i < 200; i++) fn();
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
  }
  return n / ((performance.now() - start) / 1000);
}

async function inFlight(fn, width = 64) {
  let n = 0;
  let stop = false;
  const end = performance.now() + seconds * 1000;
  const lane = async () => {
    while (!stop) {
      await fn();
      n += 1;
      if (performance.now() >= end) stop = true;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: width }, lane));
  return n / ((performance.now() - start) / 1000);
}

const fmt = (x) => Math.round(x).toLocaleString('en-US');
const rows = [];
for (const [kid, alg] of [['ed', 'EdDSA'], ['es', 'ES256'], ['hs', 'HS256']]) {
  const token = await mint(keySet, { kid });
  const ours = new Verifier({ issuer: ISS, audience: AUD, jwks: keySet.jwks, cacheCapacity: 0 });
  ours.verify(token);
  const jwk = keySet.jwks.keys.find((k) => k.kid === kid);
  const key = await jose.importJWK(jwk, alg);
  await jose.jwtVerify(token, key, options);
  const runs = { wasm: [], awaited: [], parallel: [] };
  for (let run = 0; run < RUNS; run++) {
    runs.wasm.push(syncRate(() => ours.verify(token)));
    runs.awaited.push(await rate(() => jose.jwtVerify(token, key, options)));
    runs.parallel.push(await inFlight(() => jose.jwtVerify(token, key, options)));
  }
  if (process.env.BENCH_VERBOSE) console.error(alg, runs.wasm.map(Math.round));
  rows.push([alg, median(runs.wasm), median(runs.awaited), median(runs.parallel)]);
}
const cached = new Verifier({ issuer: ISS, audience: AUD, jwks: keySet.jwks });
const token = await mint(keySet);
cached.verify(token);
const hit = median(Array.from({ length: RUNS }, () => syncRate(() => cached.verify(token))));
const edJose = rows[0];

console.log(`node ${process.version}, median of ${RUNS} runs of ${seconds} s per case, ${new Date().toISOString()}`);
console.log('| algorithm | tollgate-verifier (wasm) /s | jose awaited /s | jose 64 in flight /s | ratio vs awaited | ratio vs 64 in flight |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [alg, wasm, awaited, parallel] of rows) {
  console.log(`| ${alg} | ${fmt(wasm)} | ${fmt(awaited)} | ${fmt(parallel)} | ${(wasm / awaited).toFixed(2)}x | ${(wasm / parallel).toFixed(2)}x |`);
}
console.log(`| EdDSA, cache hit | ${fmt(hit)} | ${fmt(edJose[2])} | ${fmt(edJose[3])} | ${(hit / edJose[2]).toFixed(1)}x | ${(hit / edJose[3]).toFixed(1)}x |`);

// First-seen tokens: a pool larger than the verifiers' token cache (10,000),
// cycled, so every call misses it.
const POOL = 12_000;
const split = await createVerifier({
  issuerUrl: 'http://issuer.bench', issuer: ISS, audience: AUD,
  maxAgeMs: 3_600_000, refreshAheadMs: 3_600_000, failAfterMs: 3_600_000, fetch: staticIssuerFetch(keySet.jwks),
});
const firstSeen = [];
for (const [kid, alg] of [['ed', 'EdDSA'], ['es', 'ES256'], ['rs', 'RS256']]) {
  const pool = [];
  while (pool.length < POOL) pool.push(...(await Promise.all(Array.from({ length: 500 }, () => mint(keySet, { kid })))));
  const cycle = () => { let i = 0; return () => pool[i++ % POOL]; };
  const ours = new Verifier({ issuer: ISS, audience: AUD, jwks: keySet.jwks, cacheCapacity: 0 });
  const key = await jose.importJWK([...keySet.jwks.keys, ...(keySet.jwks.upstream_keys ?? [])].find((k) => k.kid === kid), alg);
  const runs = { split: [], wasm: [], awaited: [] };
  // RS256 is an upstream provider's (its key bound to its issuer); the
  // wasm has no RSA, so only createVerifier (WebCrypto) verifies it.
  const joseOptions = kid === 'rs' ? { ...options, issuer: UPSTREAM_ISS } : options;
  const wasmToo = kid !== 'rs';
  // Each walks the pool in one cycle across all runs: restarting at the
  // pool's start would meet tokens still in the cache from the run before.
  const [a, b, c] = [cycle(), cycle(), cycle()];
  for (let run = 0; run < RUNS; run++) {
    runs.split.push(await rate(() => split.verify(a())));
    if (wasmToo) runs.wasm.push(syncRate(() => ours.verify(b())));
    runs.awaited.push(await rate(() => jose.jwtVerify(c(), key, joseOptions)));
  }
  firstSeen.push([alg, median(runs.split), wasmToo ? median(runs.wasm) : NaN, median(runs.awaited)]);
}
console.log('');
console.log('| first-seen tokens | createVerifier /s | Verifier (all wasm) /s | jose awaited /s | createVerifier vs jose | Verifier vs jose |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [alg, s, w, j] of firstSeen) {
  const wasmCells = Number.isNaN(w) ? ['—', '—'] : [fmt(w), `${(w / j).toFixed(2)}x`];
  console.log(`| ${alg}${kid(alg)} | ${fmt(s)} | ${wasmCells[0]} | ${fmt(j)} | **${(s / j).toFixed(2)}x** | ${wasmCells[1]} |`);
}
split.close?.();
function kid(alg) {
  return alg === 'RS256' ? ' (upstream)' : '';
}
