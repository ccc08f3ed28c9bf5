// A real upstream identity provider (oidc-provider) in front of tollgate:
// a user logs in there through its own pages, its RS256 JWT access token
// passes the edge (workerd) and the origin behind it (tollgate-axum), and
// a logout at the provider, delivered by its own back-channel logout to
// the issuer, is refused at both within the sync bound. Nothing here is a
// stand-in: the provider, the issuer, the edge and the origin all run.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as jose from 'jose';
import { startStack } from '../harness/stack.js';
import { loginAt, logoutAt, rsaKey } from '../harness/idp.js';

const MAX_AGE_MS = 1000;
let stack;

before(async () => {
  stack = await startStack({ idp: true, maxAgeMs: MAX_AGE_MS });
});

after(async () => {
  await stack?.stop();
});

const api = (base, token) => fetch(`${base}/api/todos`, { headers: { authorization: `Bearer ${token}` } });

/** Polls `base` until the token is refused; resolves with the refusal and how long it took from `since`. */
async function refusedWithin(base, token, since, limitMs) {
  for (;;) {
    const reply = await api(base, token);
    if (reply.status === 401) return { body: await reply.json(), elapsed: performance.now() - since };
    const text = await reply.text();
    assert.equal(reply.status, 200, `${base}: ${reply.status} ${text}`);
    if (performance.now() - since > limitMs + 2000) assert.fail(`${base} still accepts the token after ${limitMs + 2000} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a logout at the provider is refused at the edge and the origin within max age + 100 ms', async () => {
  const { idp } = stack;
  const alice = await loginAt(idp.url, 'alice');
  const bob = await loginAt(idp.url, 'bob');
  const [header, payload] = alice.access_token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url')));
  assert.equal(header.alg, 'RS256');
  assert.equal(header.typ, 'at+jwt');
  assert.equal(payload.iss, idp.url);
  assert.ok(payload.sid, 'the provider names the session in its access tokens');
  // The issuer republishes the provider's keys apart from its own: jose
  // (which knows nothing of upstreams) finds no key for this token in the
  // JWKS's `keys`, so it can never take the provider's key for tollgate's.
  const jwks = await (await fetch(`${stack.issuerUrl}/.well-known/jwks.json`)).json();
  assert.ok(jwks.keys.every((key) => !key.iss && key.kid !== header.kid), JSON.stringify(jwks.keys));
  assert.ok(jwks.upstream_keys.some((key) => key.kid === header.kid && key.iss === idp.url));
  await assert.rejects(jose.jwtVerify(alice.access_token, jose.createLocalJWKSet(jwks)), (error) => error.code === 'ERR_JWKS_NO_MATCHING_KEY');

  // Through the edge (WebCrypto RS256 in workerd) to the origin, which
  // verifies it again natively (tollgate-axum): both must accept it.
  for (const token of [alice.access_token, bob.access_token]) {
    const reply = await api(stack.edgeUrl, token);
    assert.equal(reply.status, 200, JSON.stringify(await reply.clone().json()));
    await reply.body?.cancel();
  }
  const added = await fetch(`${stack.edgeUrl}/api/todos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'from the provider' }),
  });
  assert.equal(added.status, 201);

  const events = idp.events.length;
  await logoutAt(idp.url, alice);
  const since = performance.now();
  const delivered = idp.events.slice(events);
  assert.deepEqual(delivered.map((e) => [e.ok, e.accountId, e.sid]), [[true, 'alice', payload.sid]], JSON.stringify(delivered));

  const edge = await refusedWithin(stack.edgeUrl, alice.access_token, since, MAX_AGE_MS + 100);
  assert.equal(edge.body.code, 'revoked');
  assert.ok(edge.elapsed <= MAX_AGE_MS + 100, `the edge refused it after ${edge.elapsed.toFixed(0)} ms`);
  const origin = await refusedWithin(stack.originUrl, alice.access_token, since, MAX_AGE_MS + 100);
  assert.equal(origin.body.code, 'revoked');
  assert.ok(origin.elapsed <= MAX_AGE_MS + 100, `the origin refused it after ${origin.elapsed.toFixed(0)} ms`);

  // Another session of the provider is untouched.
  const still = await api(stack.edgeUrl, bob.access_token);
  assert.equal(still.status, 200);
  await still.body?.cancel();
});

test('a token of the provider signed by another key, or naming another audience, is refused', async () => {
  const { idp } = stack;
  const carol = await loginAt(idp.url, 'carol');
  const [h, p, s] = carol.access_token.split('.');
  const tampered = JSON.parse(Buffer.from(p, 'base64url'));
  tampered.sub = 'admin';
  const forged = `${h}.${Buffer.from(JSON.stringify(tampered)).toString('base64url')}.${s}`;
  const reply = await api(stack.edgeUrl, forged);
  assert.equal(reply.status, 401);
  assert.equal((await reply.json()).code, 'bad_signature');
});

test('a key removed from the provider\'s JWKS stops its tokens within the key refresh plus max age', async () => {
  const { idp } = stack;
  const dave = await loginAt(idp.url, 'dave');
  const ok = await api(stack.edgeUrl, dave.access_token);
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  // The provider rotates to a new key and drops the old one at once.
  await idp.configure({
    backchannelLogoutUri: `${stack.issuerUrl}/v1/upstreams/example-idp/backchannel-logout`,
    keys: [await rsaKey('idp-2')],
  });
  const since = performance.now();
  // refresh_secs = 1 in the test configuration.
  const refused = await refusedWithin(stack.edgeUrl, dave.access_token, since, 1000 + MAX_AGE_MS + 500);
  assert.equal(refused.body.code, 'unknown_kid');
  assert.ok(refused.elapsed <= 1000 + MAX_AGE_MS + 500, `refused after ${refused.elapsed.toFixed(0)} ms`);
  // A token of the new key passes.
  const erin = await loginAt(idp.url, 'erin');
  const fresh = await api(stack.edgeUrl, erin.access_token);
  assert.equal(fresh.status, 200, JSON.stringify(await fresh.clone().json()));
  await fresh.body?.cancel();
});
