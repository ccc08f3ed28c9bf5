// What an ES256 DPoP-bound request costs at the edge over a Bearer one,
// measured from outside: the built worker in workerd (Miniflare) in front of
// the scripted issuer (an EdDSA key, an empty log) and a counting origin.
// Each round sends `count` requests one at a time with distinct Bearer
// tokens, then `count` with distinct bound tokens, each with a fresh ES256
// proof of its own key (so no token cache or replay cache helps), and the
// other order in the next round. The edge does the same I/O for both (one
// origin fetch, no issuer fetch: max age is long), so the difference in
// time per request is the CPU the proof adds: parsing it, its WebCrypto
// P-256 verify, the thumbprint and the replay cache. Prints a markdown row.
//   node edge-verifier/worker/bench/dpop.js [count per round, default 300] [rounds, default 7]
import { generateDpopKey } from '../../wasm/pkg/dpop-client.js';
import { startEdge, startOrigin } from '../../../tests/harness/edge.js';
import { startStubIssuer } from '../../../tests/harness/stub-issuer.js';

const count = Number(process.argv[2] ?? 300);
const rounds = Number(process.argv[3] ?? 7);
const URL_ = 'http://edge.test/api/todos';
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const stub = await startStubIssuer();
const origin = await startOrigin();
const edge = await startEdge({
  ISSUER_URL: stub.url,
  ORIGIN_URL: origin.url,
  REVOCATION_MAX_AGE_MS: '600000',
  REVOCATION_REFRESH_AHEAD_MS: '600000',
  FAIL_AFTER_MS: '600000',
});

/** `count` requests, each with its own token (and proof of its own key). */
async function requests(bound) {
  const out = [];
  for (let i = 0; i < count; i++) {
    if (!bound) {
      out.push({ authorization: `Bearer ${await stub.mint()}` });
      continue;
    }
    const key = await generateDpopKey();
    const token = await stub.mint({ claims: { cnf: { jkt: key.thumbprint } } });
    const proof = await key.proof({ method: 'GET', url: URL_, accessToken: token });
    out.push({ authorization: `DPoP ${token}`, dpop: proof });
  }
  return out;
}

/** Milliseconds per request for `batch`, sent one at a time; every one must pass. */
async function timed(batch) {
  const start = performance.now();
  for (const headers of batch) {
    const response = await edge.mf.dispatchFetch(URL_, { headers });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`${response.status} ${body}`);
  }
  return (performance.now() - start) / batch.length;
}

try {
  await timed(await requests(false)); // warm up: cold start, first sync, JIT
  await timed(await requests(true));
  const bearer = [];
  const dpop = [];
  for (let round = 0; round < rounds; round++) {
    const [plain, bound] = [await requests(false), await requests(true)];
    if (round % 2 === 0) {
      bearer.push(await timed(plain));
      dpop.push(await timed(bound));
    } else {
      dpop.push(await timed(bound));
      bearer.push(await timed(plain));
    }
  }
  const diffs = bearer.map((b, i) => dpop[i] - b);
  if (process.env.BENCH_VERBOSE) console.error({ bearer, dpop });
  const ms = (x) => x.toFixed(3);
  console.log('| Bearer ms/request | DPoP (ES256 proof) ms/request | added ms/request (median of rounds) | min–max of rounds |');
  console.log('|---:|---:|---:|---:|');
  console.log(`| ${ms(median(bearer))} | ${ms(median(dpop))} | **${ms(median(diffs))}** | ${ms(Math.min(...diffs))}–${ms(Math.max(...diffs))} |`);
} finally {
  await edge.close();
  await origin.close();
  await stub.close();
}
