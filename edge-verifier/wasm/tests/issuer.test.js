// The package against a live issuer process: its tokens verify (here and in
// jose), a logout is refused within maxAgeMs, the sync policy serves stale
// state until failAfterMs and then refuses, and a key rotation is followed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import * as jose from 'jose';
import { createVerifier, VerifyError } from '../pkg/node.js';
import { AUD, ISS, ISSUER_BIN, login, post, sleep, startIssuer } from './support.js';

let issuer;
before(async () => {
  issuer = await startIssuer({ TOLLGATE_KEY_RELOAD_SECS: '1' });
});
after(async () => issuer.cleanup());

const rejectsWith = (promise, code) =>
  assert.rejects(promise, (error) => {
    assert.ok(error instanceof VerifyError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  });

test('tokens from the issuer verify here and in jose', async () => {
  const tokens = await login(issuer.url, 'interop@example.com');
  const tollgate = await createVerifier({ issuerUrl: issuer.url, issuer: ISS, audience: AUD });
  const claims = await tollgate.verify(tokens.access_token);
  assert.equal(claims.sid, tokens.session_id);
  assert.equal(claims.email, 'interop@example.com');

  const jwks = jose.createRemoteJWKSet(new URL(`${issuer.url}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks, {
    issuer: ISS, audience: AUD, typ: 'at+jwt',
  });
  assert.equal(protectedHeader.alg, 'EdDSA');
  assert.deepEqual(payload, claims);
});

test('after logout the token is refused as revoked within maxAgeMs', async () => {
  const maxAgeMs = 200;
  const tokens = await login(issuer.url, 'logout@example.com');
  const tollgate = await createVerifier({ issuerUrl: issuer.url, issuer: ISS, audience: AUD, maxAgeMs });
  await tollgate.verify(tokens.access_token);
  const { status } = await post(`${issuer.url}/v1/auth/logout`, null, tokens.access_token);
  assert.equal(status, 204);
  const loggedOut = Date.now();
  await rejectsWith(
    (async () => {
      for (;;) {
        await tollgate.verify(tokens.access_token);
        assert.ok(Date.now() - loggedOut < maxAgeMs + 100, 'still accepted after maxAgeMs');
        await sleep(10);
      }
    })(),
    'revoked',
  );
  assert.ok(tollgate.status().revoked >= 1);
});

test('with the issuer unreachable it serves stale state until failAfterMs, then refuses, then recovers', async () => {
  let down = false;
  const flaky = (url, init) => (down ? Promise.reject(new Error('connection refused')) : fetch(url, init));
  const tokens = await login(issuer.url, 'stale@example.com');
  const tollgate = await createVerifier({
    issuerUrl: issuer.url, issuer: ISS, audience: AUD, maxAgeMs: 20, failAfterMs: 300, fetch: flaky,
  });
  down = true;
  await sleep(50);
  assert.equal((await tollgate.verify(tokens.access_token)).sid, tokens.session_id, 'stale state still serves');
  assert.match(tollgate.status().lastError, /connection refused/);
  await sleep(300);
  await rejectsWith(tollgate.verify(tokens.access_token), 'revocation_state_stale');
  down = false;
  // A retry runs in the background at most every retry interval (maxAgeMs here).
  const back = Date.now();
  for (;;) {
    try {
      assert.equal((await tollgate.verify(tokens.access_token)).sid, tokens.session_id);
      break;
    } catch (error) {
      assert.equal(error.code, 'revocation_state_stale');
      assert.ok(Date.now() - back < 1000, 'did not recover by itself');
      await sleep(10);
    }
  }
});

test('concurrent verifications share one sync', async () => {
  let feedCalls = 0;
  const counting = (url, init) => {
    if (String(url).includes('/v1/revocations')) feedCalls += 1;
    return fetch(url, init);
  };
  const tokens = await login(issuer.url, 'shared@example.com');
  // No refresh ahead (it would add a background pull of its own if the
  // batch outlived the soft bound on a slow machine); 300 ms of max age.
  const tollgate = await createVerifier({
    issuerUrl: issuer.url, issuer: ISS, audience: AUD, maxAgeMs: 300, refreshAheadMs: 300, fetch: counting,
  });
  await sleep(320); // past maxAgeMs: every call below needs a sync first
  feedCalls = 0;
  await Promise.all(Array.from({ length: 20 }, () => tollgate.verify(tokens.access_token)));
  assert.equal(feedCalls, 1);
});

test('a fresh verifier loads a snapshot first: an earlier logout is refused on its very first call', async () => {
  const tokens = await login(issuer.url, 'early@example.com');
  await post(`${issuer.url}/v1/auth/logout`, null, tokens.access_token);
  const tollgate = await createVerifier({ issuerUrl: issuer.url, issuer: ISS, audience: AUD });
  await rejectsWith(tollgate.verify(tokens.access_token), 'revoked');
});

test('after a key rotation, a token with the new kid verifies (the JWKS is refetched once)', async () => {
  const tollgate = await createVerifier({ issuerUrl: issuer.url, issuer: ISS, audience: AUD, jwksCooldownMs: 1000 });
  const rotate = spawnSync(ISSUER_BIN, ['keys', 'rotate'], {
    env: { ...process.env, TOLLGATE_DATA_DIR: issuer.dataDir, DATABASE_URL: '', RUST_LOG: 'warn' },
  });
  assert.equal(rotate.status, 0, String(rotate.stderr));
  const newKid = String(rotate.stdout).trim().split(' ').pop();
  const kidOf = (token) => jose.decodeProtectedHeader(token).kid;
  let tokens;
  for (let i = 0; i < 50; i++) {
    tokens = await login(issuer.url, 'rotate@example.com', `d${i}`);
    if (kidOf(tokens.access_token) === newKid) break;
    await sleep(100); // The running issuer reloads its keys every second here.
  }
  assert.equal(kidOf(tokens.access_token), newKid, 'the issuer picked up the rotation');
  assert.ok(!tollgate.hasKid(newKid));
  const claims = await tollgate.verify(tokens.access_token);
  assert.equal(claims.sid, tokens.session_id);
  assert.ok(tollgate.hasKid(newKid));
});

test('after keys withdraw at the issuer, its tokens are refused within maxAgeMs + 100 ms', async () => {
  const maxAgeMs = 200;
  const tokens = await login(issuer.url, 'withdrawn@example.com');
  const { kid } = jose.decodeProtectedHeader(tokens.access_token);
  const tollgate = await createVerifier({ issuerUrl: issuer.url, issuer: ISS, audience: AUD, maxAgeMs });
  await tollgate.verify(tokens.access_token);
  const withdraw = spawnSync(ISSUER_BIN, ['keys', 'withdraw', kid], {
    env: { ...process.env, TOLLGATE_DATA_DIR: issuer.dataDir, DATABASE_URL: '', RUST_LOG: 'warn' },
  });
  assert.equal(withdraw.status, 0, String(withdraw.stderr));
  const withdrawn = Date.now();
  await rejectsWith(
    (async () => {
      for (;;) {
        await tollgate.verify(tokens.access_token);
        assert.ok(Date.now() - withdrawn < maxAgeMs + 100, 'a withdrawn key still verifies');
        await sleep(10);
      }
    })(),
    'unknown_kid',
  );
});
