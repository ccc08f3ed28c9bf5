// The edge in workerd against an issuer that fails the way real ones do:
// a snapshot whose page 2 fails or hangs, an issuer that never answers, one
// that sends the headers and stalls the body, a client that gives up in the
// middle of a sync, and a signing key withdrawn from the JWKS. The promise
// under test: a revoked session or key is refused within the sync bound, or
// the edge fails closed (503) within FAIL_AFTER_MS + 1 s; it never hangs and
// it recovers by itself.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEdge, startOrigin } from '../../../tests/harness/edge.js';
import { startStubIssuer } from '../../../tests/harness/stub-issuer.js';

const MAX_AGE_MS = 200;
const FAIL_AFTER_MS = 1500;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let origin;
before(async () => {
  origin = await startOrigin();
});
after(async () => origin.close());

/** A stub issuer and a cold edge in front of it. */
async function setup({ entries = [], vars = {} } = {}) {
  const stub = await startStubIssuer();
  stub.entries = entries;
  const edge = await startEdge({
    ISSUER_URL: stub.url,
    ORIGIN_URL: origin.url,
    REVOCATION_MAX_AGE_MS: String(MAX_AGE_MS),
    FAIL_AFTER_MS: String(FAIL_AFTER_MS),
    JWKS_COOLDOWN_MS: '10000',
    ...vars,
  });
  return { stub, edge, close: async () => { await edge.close(); await stub.close(); } };
}

/** `count` revocations of random sessions, with `sid` at position `at`. */
function logWith(sid, at, count) {
  const until = Math.floor(Date.now() / 1000) + 600;
  const entries = Array.from({ length: count }, () => ({ sid: crypto.randomUUID(), until }));
  entries[at] = { sid, until };
  return entries;
}

/** Sends `token` through the edge every 20 ms for `ms`; resolves with every status seen. */
async function hammer(edge, token, ms) {
  const statuses = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    statuses.push((await edge.send('/api/todos', { token })).status);
    await sleep(20);
  }
  return statuses;
}

for (const kind of ['500', 'silent']) {
  test(`a snapshot whose page 2 ${kind === '500' ? 'fails' : 'never answers'} is not applied: a session revoked on page 2 stays refused`, async () => {
    const revoked = crypto.randomUUID();
    // A hanging page must outlast the edge's fetch timeout (5 s) within
    // FAIL_AFTER_MS to show whether a half snapshot would be served.
    const failAfter = kind === 'silent' ? 7000 : FAIL_AFTER_MS;
    const { stub, edge, close } = await setup({ entries: logWith(revoked, 5, 1500), vars: { FAIL_AFTER_MS: String(failAfter) } });
    try {
      const token = await stub.mint({ sid: revoked });
      assert.equal((await edge.send('/api/todos', { token })).status, 401, 'refused after the first full snapshot');
      // The database behind the issuer is replaced (a restore): every cursor
      // is foreign, so the next sync is a snapshot, and X is now on page 2.
      stub.entries = logWith(revoked, 1200, 1500);
      stub.epoch = 'b';
      stub.fault = { kind, match: stub.laterPages };
      const seen = origin.seen.length;
      const statuses = await hammer(edge, token, failAfter - 500);
      assert.ok(!statuses.includes(200), `a revoked session was let through: ${statuses.join(' ')}`);
      assert.equal(origin.seen.length, seen, 'the origin saw none of them');
    } finally {
      await close();
    }
  });
}

for (const kind of ['silent', 'stall']) {
  test(`an issuer that ${kind === 'silent' ? 'never answers' : 'stalls after the headers'} gives 503 within FAIL_AFTER_MS + 1 s, and the edge recovers`, async () => {
    const { stub, edge, close } = await setup();
    try {
      const token = await stub.mint();
      assert.equal((await edge.send('/api/todos', { token })).status, 200);
      const faultAt = Date.now();
      stub.fault = { kind, match: () => true };
      let firstStale = null;
      while (firstStale === null) {
        const sent = Date.now();
        const reply = await edge.send('/api/todos', { token });
        assert.ok(Date.now() - sent < FAIL_AFTER_MS + 1000, `one request took ${Date.now() - sent} ms`);
        if (reply.status === 503) {
          assert.equal(reply.body.code, 'revocation_state_stale');
          firstStale = Date.now() - faultAt;
        } else {
          assert.equal(reply.status, 200, JSON.stringify(reply.body));
          assert.ok(Date.now() - faultAt < FAIL_AFTER_MS + 1000, 'still serving past FAIL_AFTER_MS + 1 s');
        }
        await sleep(20);
      }
      assert.ok(firstStale <= FAIL_AFTER_MS + 1000, `first 503 after ${firstStale} ms`);

      // The held connections stay stalled: recovery must not depend on them.
      stub.fault = null;
      const back = Date.now();
      for (;;) {
        const reply = await edge.send('/api/todos', { token });
        if (reply.status === 200) break;
        assert.ok(Date.now() - back < 3000, `not recovered ${Date.now() - back} ms after the issuer came back`);
        await sleep(50);
      }
    } finally {
      await close();
    }
  });
}

test('a cold edge in front of a silent issuer gives 503 within FAIL_AFTER_MS + 1 s', async () => {
  const stub = await startStubIssuer();
  stub.fault = { kind: 'silent', match: () => true };
  const edge = await startEdge({
    ISSUER_URL: stub.url, ORIGIN_URL: origin.url,
    REVOCATION_MAX_AGE_MS: String(MAX_AGE_MS), FAIL_AFTER_MS: String(FAIL_AFTER_MS),
  });
  try {
    const started = Date.now();
    const reply = await edge.send('/api/todos', { token: await stub.mint() });
    assert.equal(reply.status, 503);
    assert.ok(Date.now() - started <= FAIL_AFTER_MS + 1000, `answered after ${Date.now() - started} ms`);
  } finally {
    await edge.close();
    await stub.close();
  }
});

test('a client that gives up in the middle of a sync does not leave the edge stuck', async () => {
  const { stub, edge, close } = await setup();
  try {
    const token = await stub.mint();
    assert.equal((await edge.send('/api/todos', { token })).status, 200);
    await sleep(MAX_AGE_MS + 50);
    stub.fault = { kind: 'stall', match: () => true };
    // This request starts the sync, which stalls; its client goes away.
    const abort = new AbortController();
    const gaveUp = edge.mf.dispatchFetch('http://edge.test/api/todos', {
      headers: { authorization: `Bearer ${token}` }, signal: abort.signal,
    }).catch((error) => error);
    await sleep(150);
    abort.abort();
    await gaveUp;
    // The aborted request's fetch stays stalled for ever; new ones answer.
    stub.fault = null;
    const back = Date.now();
    for (;;) {
      const reply = await edge.send('/api/todos', { token });
      if (reply.status === 200) break;
      assert.ok(Date.now() - back < FAIL_AFTER_MS + 1000, `stuck ${Date.now() - back} ms after the abort: ${JSON.stringify(reply.body)}`);
      await sleep(50);
    }
  } finally {
    await close();
  }
});

test('a key withdrawn from the JWKS stops verifying within max age + 100 ms', async () => {
  const { stub, edge, close } = await setup();
  try {
    const old = stub.keys[0].kid;
    await stub.addKey();
    const token = await stub.mint({ kid: old });
    assert.equal((await edge.send('/api/todos', { token })).status, 200);
    stub.withdraw(old);
    const withdrawn = Date.now();
    for (;;) {
      const reply = await edge.send('/api/todos', { token });
      if (reply.status === 401) {
        assert.equal(reply.body.code, 'unknown_kid');
        break;
      }
      assert.equal(reply.status, 200);
      assert.ok(Date.now() - withdrawn < MAX_AGE_MS + 100, `a withdrawn key still verifies after ${Date.now() - withdrawn} ms`);
      await sleep(10);
    }
    assert.equal((await edge.send('/api/todos', { token: await stub.mint() })).status, 200, 'the other key still works');
  } finally {
    await close();
  }
});
