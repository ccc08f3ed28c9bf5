// The data-center cache that isolates share the feed through
// (edge-verifier/worker/src/shared.rs), with three edge isolates in one
// workerd (their `caches.default` is one) in front of the scripted issuer,
// whose answers can be made slow on cue.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Miniflare } from 'miniflare';
import { startOrigin, workerOptions } from '../harness/edge.js';
import { sleep } from '../harness/issuer.js';
import { AUD, ISS, startStubIssuer } from '../harness/stub-issuer.js';

let stub;
let origin;
let mf;
let edges;

before(async () => {
  stub = await startStubIssuer();
  origin = await startOrigin();
  const vars = {
    ISSUER_URL: stub.url,
    ORIGIN_URL: origin.url,
    ISSUER: ISS,
    AUDIENCE: AUD,
    PUBLIC_PATHS: '/public/',
    ISSUER_PATHS: '/v1/auth/',
    // Every refresh in the background: no request waits for one here.
    REVOCATION_MAX_AGE_MS: '10000',
    REVOCATION_REFRESH_AHEAD_MS: '100',
    FAIL_AFTER_MS: '20000',
    SHARED_FEED: 'on',
  };
  mf = new Miniflare({ workers: [0, 1, 2].map((i) => ({ ...workerOptions(vars), name: `edge${i}` })) });
  await mf.ready;
  edges = await Promise.all([0, 1, 2].map((i) => mf.getWorker(`edge${i}`)));
});
after(async () => {
  await mf.dispose();
  await origin.close();
  await stub.close();
});

const send = (edge, token) => edge.fetch('http://edge.test/api/x', { headers: { authorization: `Bearer ${token}` } });

/** Resolves once `count()` exceeds `than`; fails after `limitMs`. */
async function until(count, than, limitMs = 2000) {
  const started = Date.now();
  while (count() <= than) {
    assert.ok(Date.now() - started < limitMs, 'the issuer saw no new feed request');
    await sleep(5);
  }
}

/** When the shared copy of the answer to `since=a:0` was fetched (its stamp). */
async function sharedStamp() {
  const caches = await mf.getCaches();
  const copy = await caches.default.match(`${stub.url}/v1/revocations?since=a%3A0`);
  assert.ok(copy, 'a shared copy is cached');
  await copy.text();
  return Number(copy.headers.get('x-tollgate-observed-ms'));
}

test('a slow answer that lands after a newer one never replaces it in the shared cache', async () => {
  const token = await stub.mint();
  for (const edge of edges) assert.equal((await send(edge, token)).status, 200);
  await sleep(150);
  // Isolate 0's refresh meets a slow issuer: its lease expires (300 ms)
  // before its answer lands.
  stub.delayMs.feed = 600;
  let arrived = stub.arrived.feed;
  assert.equal((await send(edges[0], token)).status, 200);
  await until(() => stub.arrived.feed, arrived);
  const slowStarted = Date.now();
  stub.delayMs.feed = 0;
  // Isolate 1 refreshes after that lease expired, fetches at once, and
  // shares its newer answer.
  await sleep(350);
  arrived = stub.arrived.feed;
  assert.equal((await send(edges[1], token)).status, 200);
  await until(() => stub.arrived.feed, arrived);
  await sleep(100);
  const newer = await sharedStamp();
  assert.ok(newer > slowStarted + 300, `the shared copy is isolate 1's (stamped ${newer - slowStarted} ms after the slow fetch)`);
  // The slow answer lands.
  await until(() => stub.requests.feed, stub.arrived.feed - 1, 2000);
  await sleep(slowStarted + 800 - Date.now());
  assert.equal(await sharedStamp(), newer, 'the older answer replaced the newer one');
});
