// Verifications per second in workerd (Miniflare), where the edge runs: the
// npm package's createVerifier (Rust parses and judges, workerd's WebCrypto
// checks the signature; the lean wasm the workerd entry loads) and jose's
// jwtVerify with keys imported once, in one worker, in one run. (The
// synchronous Verifier, all in wasm, is Node's only since the lean build.)
//
// Each timed request verifies 1,500 distinct tokens, none seen before by
// that verifier (a fresh createVerifier per round; jose has no cache).
// workerd's clock stands still while a request
// runs, so requests are timed from outside, less the time of an empty
// request. Rounds interleave the implementations; the median is reported.
//   node edge-verifier/wasm/bench/workerd.js [rounds, default 5]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { Miniflare } from 'miniflare';
import { AUD, ISS, UPSTREAM_ISS, keys, mint } from '../tests/support.js';

const rounds = Number(process.argv[2] ?? 5);
const TOKENS = 1500;
const pkg = fileURLToPath(new URL('../pkg/', import.meta.url));
const here = fileURLToPath(new URL('./', import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// RS256 is an upstream provider's: its key bound to its issuer, as the
// tollgate issuer republishes it.
const keySet = await keys({ upstream: true });
const ALGS = ['EdDSA', 'ES256', 'RS256'];
const implsFor = () => ['split', 'jose'];
const tokens = {};
for (const [kid, alg] of [['ed', 'EdDSA'], ['es', 'ES256'], ['rs', 'RS256']]) {
  tokens[alg] = await Promise.all(Array.from({ length: TOKENS }, () => mint(keySet, { kid })));
}

// jose for workerd, as a Worker bundler would take it (its Web API build).
const jose = await esbuild.build({
  stdin: { contents: "export * from 'jose';", resolveDir: here },
  bundle: true, format: 'esm', platform: 'neutral', conditions: ['workerd', 'worker', 'browser'], write: false,
});

const entry = `
import { createVerifier } from './workerd.js';
import * as jose from './jose.js';
import { staticIssuerFetch } from './static-issuer.js';
import data from './data.js';
const { jwks, tokens, ISS, AUD, UPSTREAM_ISS } = data;
const joseOptions = { issuer: ISS, audience: AUD, typ: 'at+jwt' };
const upstreamOptions = { ...joseOptions, issuer: UPSTREAM_ISS };
const long = 600000;
let state;
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/setup') {
      state = {
        split: await createVerifier({
          issuerUrl: 'http://issuer.bench', issuer: ISS, audience: AUD,
          maxAgeMs: long, refreshAheadMs: long, failAfterMs: long, fetch: staticIssuerFetch(jwks),
        }),
        jose: {
          EdDSA: await jose.importJWK(jwks.keys.find((k) => k.kid === 'ed'), 'EdDSA'),
          ES256: await jose.importJWK(jwks.keys.find((k) => k.kid === 'es'), 'ES256'),
          RS256: await jose.importJWK(jwks.upstream_keys.find((k) => k.kid === 'rs'), 'RS256'),
        },
      };
      return new Response('ready');
    }
    const alg = url.searchParams.get('alg');
    let n = 0;
    switch (url.searchParams.get('impl')) {
      case 'split':
        for (const token of tokens[alg]) { await state.split.verify(token); n++; }
        break;
      case 'jose':
        for (const token of tokens[alg]) { await jose.jwtVerify(token, state.jose[alg], alg === 'RS256' ? upstreamOptions : joseOptions); n++; }
        break;
      default:
        break;
    }
    return new Response(String(n));
  },
};`;

const file = (dir, name) => ({ type: 'ESModule', path: `${pkg}${name}`, contents: readFileSync(`${dir}${name}`) });
const mf = new Miniflare({
  modules: [
    { type: 'ESModule', path: `${pkg}entry.js`, contents: entry },
    { type: 'ESModule', path: `${pkg}data.js`, contents: `export default ${JSON.stringify({ jwks: keySet.jwks, tokens, ISS, AUD, UPSTREAM_ISS })};` },
    { type: 'ESModule', path: `${pkg}jose.js`, contents: jose.outputFiles[0].text },
    file(here, 'static-issuer.js'),
    file(pkg, 'workerd.js'),
    file(pkg, 'api.js'),
    file(pkg, 'tollgate_verifier_lean.js'),
    { type: 'CompiledWasm', path: `${pkg}tollgate_verifier_lean_bg.wasm`, contents: readFileSync(`${pkg}tollgate_verifier_lean_bg.wasm`) },
  ],
  modulesRoot: pkg,
  compatibilityDate: '2025-09-01',
});

/** Milliseconds for one request, and what it answered. */
async function timed(query) {
  const start = performance.now();
  const response = await mf.dispatchFetch(`http://bench.test/run?${query}`);
  const text = await response.text();
  const ms = performance.now() - start;
  if (response.status !== 200) throw new Error(`${query}: ${response.status} ${text}`);
  return { ms, n: Number(text) };
}

try {
  const rates = {};
  for (const alg of ALGS) {
    for (const impl of implsFor(alg)) rates[`${alg} ${impl}`] = [];
  }
  await (await mf.dispatchFetch('http://bench.test/setup')).text();
  for (const alg of ALGS) for (const impl of implsFor(alg)) await timed(`alg=${alg}&impl=${impl}`); // warm up
  for (let round = 0; round < rounds; round++) {
    await (await mf.dispatchFetch('http://bench.test/setup')).text();
    const empty = median(await Promise.all([0, 1, 2].map(() => timed('impl=none').then((r) => r.ms))));
    for (const alg of ALGS) {
      // A different order each round, so no implementation always goes first.
      const impls = implsFor(alg);
      const order = impls.map((_, i) => impls[(i + round) % impls.length]);
      for (const impl of order) {
        const { ms, n } = await timed(`alg=${alg}&impl=${impl}`);
        if (n !== TOKENS) throw new Error(`${alg} ${impl}: verified ${n} of ${TOKENS}`);
        rates[`${alg} ${impl}`].push(n / ((ms - empty) / 1000));
      }
    }
  }
  if (process.env.BENCH_VERBOSE) console.error(rates);
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  console.log(`workerd via Miniflare, node ${process.version}, ${TOKENS} first-seen tokens a request, median of ${rounds} rounds, ${new Date().toISOString()}`);
  // The load on a shared machine drifts between rounds; a ratio taken
  // within each round (the same seconds for both) is steadier than a ratio
  // of medians, so both are shown.
  const paired = (alg, impl) => median(rates[`${alg} ${impl}`].map((r, i) => r / rates[`${alg} jose`][i]));
  console.log('| algorithm | createVerifier (lean wasm, WebCrypto signature) /s | jose /s | createVerifier vs jose: ratio of medians / median of per-round ratios |');
  console.log('|---|---:|---:|---:|');
  for (const alg of ALGS) {
    const [split, ref] = ['split', 'jose'].map((impl) => median(rates[`${alg} ${impl}`]));
    const label = alg === 'RS256' ? 'RS256 (upstream)' : alg;
    console.log(`| ${label} | ${fmt(split)} | ${fmt(ref)} | ${(split / ref).toFixed(2)}x / **${paired(alg, 'split').toFixed(2)}x** |`);
  }
} finally {
  await mf.dispose();
}
