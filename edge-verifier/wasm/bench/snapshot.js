// How long the npm package's wasm takes to load a large revocation
// snapshot: one page of 100,000 entries (half sids, half jtis; 6.6 MB of
// JSON) through the Node build's `applyRevocations` (parse, sort, swap
// in), each time into a fresh Verifier. Median and best of 12 loads. Run it
// against another build of the package to compare (`pkg` argument: the
// directory holding node.js).
//   node edge-verifier/wasm/bench/snapshot.js [pkg directory, default ../pkg]
import { fileURLToPath } from 'node:url';

const pkg = process.argv[2] ?? fileURLToPath(new URL('../pkg', import.meta.url));
const { Verifier } = await import(`${pkg}/node.js`);
const entries = [];
for (let i = 0; i < 100_000; i++) entries.push({ [i % 2 ? 'sid' : 'jti']: crypto.randomUUID(), until: 1_800_000_000 + i });
const page = JSON.stringify({ cursor: 'a:100000', reset: true, more: false, revoked: entries });
const times = [];
for (let round = 0; round < 12; round++) {
  const verifier = new Verifier({ issuer: 'i', audience: 'a', jwks: { keys: [] } });
  const started = performance.now();
  verifier.applyRevocations(page);
  times.push(performance.now() - started);
  if (verifier.revokedCount !== entries.length) throw new Error(`${verifier.revokedCount} entries held`);
}
times.sort((a, b) => a - b);
console.log(`${pkg}: ${(page.length / 1e6).toFixed(1)} MB page, median ${times[6].toFixed(1)} ms, best ${times[0].toFixed(1)} ms`);
