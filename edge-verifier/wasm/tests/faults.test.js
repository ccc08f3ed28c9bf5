// createVerifier against an issuer that fails the way real ones do: a
// snapshot whose page 2 fails or hangs, an issuer that never answers or
// stalls after the headers, and a signing key withdrawn from the JWKS.
// Every verify() settles: accepted, refused, or `revocation_state_stale`
// within failAfterMs + 1 s; and a revoked session or key is never accepted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVerifier } from '../pkg/node.js';
import { AUD, ISS, startStubIssuer } from '../../../tests/harness/stub-issuer.js';

const maxAgeMs = 200;
const failAfterMs = 1500;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with 'ok' or the error code, and how long verify() took. */
async function attempt(tollgate, token) {
  const started = Date.now();
  try {
    await tollgate.verify(token);
    return { code: 'ok', ms: Date.now() - started };
  } catch (error) {
    return { code: error.code, ms: Date.now() - started };
  }
}

function logWith(sid, at, count) {
  const until = Math.floor(Date.now() / 1000) + 600;
  const entries = Array.from({ length: count }, () => ({ sid: crypto.randomUUID(), until }));
  entries[at] = { sid, until };
  return entries;
}

async function setup(entries = []) {
  const stub = await startStubIssuer();
  stub.entries = entries;
  const tollgate = await createVerifier({ issuerUrl: stub.url, issuer: ISS, audience: AUD, maxAgeMs, failAfterMs });
  return { stub, tollgate, close: async () => { tollgate.close(); await stub.close(); } };
}

for (const kind of ['500', 'silent']) {
  test(`a snapshot whose page 2 ${kind === '500' ? 'fails' : 'never answers'} is not applied`, async () => {
    const revoked = crypto.randomUUID();
    const { stub, tollgate, close } = await setup(logWith(revoked, 5, 1500));
    try {
      const token = await stub.mint({ sid: revoked });
      assert.equal((await attempt(tollgate, token)).code, 'revoked');
      stub.entries = logWith(revoked, 1200, 1500);
      stub.epoch = 'b';
      stub.fault = { kind, match: stub.laterPages };
      const end = Date.now() + failAfterMs + 500;
      while (Date.now() < end) {
        const { code, ms } = await attempt(tollgate, token);
        assert.notEqual(code, 'ok', 'a session revoked on page 2 was accepted');
        assert.ok(ms < failAfterMs + 1000, `verify() took ${ms} ms`);
        await sleep(20);
      }
    } finally {
      await close();
    }
  });
}

for (const kind of ['silent', 'stall']) {
  test(`an issuer that ${kind === 'silent' ? 'never answers' : 'stalls after the headers'} gives revocation_state_stale within failAfterMs + 1 s, then recovers`, async () => {
    const { stub, tollgate, close } = await setup();
    try {
      const token = await stub.mint();
      assert.equal((await attempt(tollgate, token)).code, 'ok');
      const faultAt = Date.now();
      stub.fault = { kind, match: () => true };
      for (;;) {
        const { code, ms } = await attempt(tollgate, token);
        assert.ok(ms < failAfterMs + 1000, `verify() took ${ms} ms`);
        if (code === 'revocation_state_stale') break;
        assert.equal(code, 'ok');
        assert.ok(Date.now() - faultAt <= failAfterMs + 1000, 'still accepting past failAfterMs + 1 s');
        await sleep(20);
      }
      assert.ok(Date.now() - faultAt <= failAfterMs + 1000);
      // What cannot be a token is the client's fault (malformed, a 401),
      // whatever the state: not stale (a 503), and not waited on.
      const spaced = await attempt(tollgate, `${token.slice(0, 10)} ${token.slice(10)}`);
      assert.equal(spaced.code, 'malformed');
      // The held connections stay stalled: recovery must not depend on them.
      stub.fault = null;
      const back = Date.now();
      while ((await attempt(tollgate, token)).code !== 'ok') {
        assert.ok(Date.now() - back < 3000, 'did not recover');
        await sleep(50);
      }
    } finally {
      await close();
    }
  });
}

test('createVerifier in front of a silent issuer rejects within failAfterMs + 1 s', async () => {
  const stub = await startStubIssuer();
  stub.fault = { kind: 'silent', match: () => true };
  try {
    const started = Date.now();
    await assert.rejects(createVerifier({ issuerUrl: stub.url, issuer: ISS, audience: AUD, maxAgeMs, failAfterMs }),
      (error) => error.code === 'revocation_state_stale');
    assert.ok(Date.now() - started <= failAfterMs + 1000, `rejected after ${Date.now() - started} ms`);
  } finally {
    await stub.close();
  }
});

test('a key withdrawn from the JWKS stops verifying within maxAgeMs + 100 ms', async () => {
  const { stub, tollgate, close } = await setup();
  try {
    const old = stub.keys[0].kid;
    await stub.addKey();
    const token = await stub.mint({ kid: old });
    assert.equal((await attempt(tollgate, token)).code, 'ok');
    stub.withdraw(old);
    const withdrawn = Date.now();
    for (;;) {
      const { code } = await attempt(tollgate, token);
      if (code === 'unknown_kid') break;
      assert.equal(code, 'ok');
      assert.ok(Date.now() - withdrawn < maxAgeMs + 100, `a withdrawn key still verifies after ${Date.now() - withdrawn} ms`);
      await sleep(10);
    }
    assert.equal((await attempt(tollgate, await stub.mint())).code, 'ok');
  } finally {
    await close();
  }
});
