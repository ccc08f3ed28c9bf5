// The data-center cache that isolates share the feed through
// (edge-verifier/worker/src/shared.rs), with three edge isolates in one
// workerd (their `caches.default` is one) in front of the scripted issuer,
// whose answers can be made slow on cue.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Miniflare, Response as WorkerResponse } from 'miniflare';
import { startOrigin, workerOptions } from '../harness/edge.js';
import { sleep } from '../harness/issuer.js';
import { AUD, ISS, startStubIssuer } from '../harness/stub-issuer.js';

let stub;
let origin;
let mf;
let edges;
let bounded;

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
  // A fourth isolate with the shipped bound (a request waits for a sync
  // once the state is 1 s old), sent requests only by the test that needs it.
  const shipped = { ...vars, REVOCATION_MAX_AGE_MS: '1000' };
  mf = new Miniflare({
    workers: [vars, vars, vars, shipped].map((v, i) => ({ ...workerOptions(v), name: `edge${i}` })),
  });
  await mf.ready;
  edges = await Promise.all([0, 1, 2].map((i) => mf.getWorker(`edge${i}`)));
  bounded = await mf.getWorker('edge3');
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

const FEED_URL = () => `${stub.url}/v1/revocations?since=a%3A0`;

/** Puts `body` in the shared cache under `url`, stamped `stamp`, as an isolate does. */
async function putShared(url, body, stamp) {
  const caches = await mf.getCaches();
  await caches.default.put(url, new WorkerResponse(body, {
    headers: { 'x-tollgate-observed-ms': String(stamp), 'cache-control': 'public, max-age=5', 'content-type': 'application/json' },
  }));
}

/** When the shared copy of the answer to `since=a:0` was fetched (its stamp). */
async function sharedStamp() {
  const caches = await mf.getCaches();
  const copy = await caches.default.match(`${stub.url}/v1/revocations?since=a%3A0`);
  assert.ok(copy, 'a shared copy is cached');
  await copy.text();
  return Number(copy.headers.get('x-tollgate-observed-ms'));
}

/**
 * Warms every isolate with `token`, then has isolate 0 refresh against a
 * slow issuer: its answer takes 600 ms, past its lease (300 ms). Resolves
 * when that fetch reached the issuer, with the moment it did.
 */
async function slowRefreshOfIsolate0(token) {
  for (const edge of edges) assert.equal((await send(edge, token)).status, 200);
  await sleep(150);
  stub.delayMs.feed = 600;
  const arrived = stub.arrived.feed;
  assert.equal((await send(edges[0], token)).status, 200);
  await until(() => stub.arrived.feed, arrived);
  stub.delayMs.feed = 0;
  return Date.now();
}

/** Has isolate 1 refresh once that lease expired; resolves when its fetch reached the issuer. */
async function refreshOfIsolate1(token) {
  await sleep(350);
  const arrived = stub.arrived.feed;
  assert.equal((await send(edges[1], token)).status, 200);
  await until(() => stub.arrived.feed, arrived);
}

test('a slow answer that lands after a newer one never replaces it in the shared cache', async () => {
  const token = await stub.mint();
  const slowStarted = await slowRefreshOfIsolate0(token);
  // Isolate 1 fetches at once and shares its newer answer.
  await refreshOfIsolate1(token);
  await sleep(100);
  const newer = await sharedStamp();
  assert.ok(newer > slowStarted + 300, `the shared copy is isolate 1's (stamped ${newer - slowStarted} ms after the slow fetch)`);
  // The slow answer lands.
  await until(() => stub.requests.feed, stub.arrived.feed - 1, 2000);
  await sleep(slowStarted + 800 - Date.now());
  assert.equal(await sharedStamp(), newer, 'the older answer replaced the newer one');
});

test("an answer is still shared when the newer fetch that leased after it fails", async () => {
  const token = await stub.mint();
  const slowStarted = await slowRefreshOfIsolate0(token);
  // Isolate 1 leases after that, and its fetch fails.
  stub.fault = { kind: '500', match: (url) => url.pathname === '/v1/revocations' };
  await refreshOfIsolate1(token);
  await sleep(50);
  stub.fault = null;
  // The slow answer lands, and is the newest there is: it is shared.
  await sleep(slowStarted + 800 - Date.now());
  const after = await sharedStamp();
  assert.ok(Math.abs(after - slowStarted) < 100, `the slow answer was not shared (the copy is stamped ${after - slowStarted} ms from its fetch's start)`);
});

test('an answer fetched a moment before a racing lease serves those waiting on that lease', async () => {
  const token = await stub.mint();
  for (const edge of edges) assert.equal((await send(edge, token)).status, 200);
  await sleep(300);
  // What two isolates that leased 20 ms apart leave when the older answer
  // is put last: that answer, and the newer lease, still live.
  const page = await (await fetch(FEED_URL())).text();
  const answered = Date.now() - 150;
  await putShared(FEED_URL(), page, answered);
  await putShared(`${FEED_URL()}&tollgate-lease`, '', answered + 20);
  // Isolate 2 refreshes: the copy is too old to serve as it is, so it
  // goes on to the issuer at once, rather than waiting out that lease
  // (another 170 ms) for an answer no fresher than the one it has.
  const arrived = stub.arrived.feed;
  const asked = Date.now();
  assert.equal((await send(edges[2], token)).status, 200);
  await until(() => stub.arrived.feed, arrived);
  const waited = Date.now() - asked;
  assert.ok(waited < 140, `waited ${waited} ms on a lease its copy already answers`);
});

test("a lease stamped in the future (a clock ahead) holds nobody past a lease's life", async () => {
  const token = await stub.mint();
  for (const edge of edges) assert.equal((await send(edge, token)).status, 200);
  await sleep(300);
  // An isolate whose clock runs 10 s ahead took a lease; its answer never
  // lands.
  await putShared(`${FEED_URL()}&tollgate-lease`, '', Date.now() + 10_000);
  const arrived = stub.arrived.feed;
  const asked = Date.now();
  assert.equal((await send(edges[2], token)).status, 200);
  await until(() => stub.arrived.feed, arrived, 6000);
  const waited = Date.now() - asked;
  assert.ok(waited < 500, `waited ${waited} ms on a lease from the future`);
});

// Last: it revokes, so the cursor moves on from `since=a:0`.
test('a copy stamped in the future (a clock ahead) does not keep a revoked token alive past the bound', async () => {
  const sid = crypto.randomUUID();
  const token = await stub.mint({ sid });
  assert.equal((await send(bounded, token)).status, 200);
  // An isolate whose clock runs 10 s ahead shared the answer it fetched
  // before the logout: to every clock but its own, it is from the future.
  const before = await (await fetch(FEED_URL())).text();
  await putShared(FEED_URL(), before, Date.now() + 10_000);
  stub.revoke(sid);
  const revoked = Date.now();
  let status;
  do {
    await sleep(50);
    status = (await send(bounded, token)).status;
  } while (status === 200 && Date.now() - revoked < 2500);
  const after = Date.now() - revoked;
  assert.equal(status, 401, `the revoked token still passed ${after} ms after its logout`);
  // REVOCATION_MAX_AGE_MS is 1000: refused within it (and a request's round trip).
  assert.ok(after < 1200, `refused only ${after} ms after its logout`);
});
