// DPoP (RFC 9449) in the npm package: proofs from panva's `dpop` (the
// reference JS implementation) and from our own `dpop-client` verify here,
// thumbprints agree with it, every bad proof is a coded refusal, and against
// a live issuer a bound session works end to end, nonces included, while a
// copied token or refresh token is useless without the key.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as panva from 'dpop';
import * as jose from 'jose';
import { Verifier, VerifyError, createVerifier, requestParts } from '../pkg/node.js';
import { dpopFetch, generateDpopKey, thumbprint } from '../pkg/dpop-client.js';
import { AUD, ISS, PASSWORD, keys, mint, nowSecs, post, sleep, startIssuer } from './support.js';

const keySet = await keys();
const URL_ = 'https://api.example.com/api/todos';

const throwsCode = (fn, code) =>
  assert.throws(fn, (error) => {
    assert.ok(error instanceof VerifyError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  });

/** A token bound to `jkt`, signed by the test issuer key. */
const boundToken = (jkt, claims = {}) => mint(keySet, { claims: { cnf: { jkt }, ...claims } });

const verifier = () => new Verifier({ issuer: ISS, audience: AUD, jwks: keySet.jwks });

test("panva's dpop proofs verify (ES256 and Ed25519), and thumbprints agree with it", async () => {
  for (const alg of ['ES256', 'Ed25519']) {
    const pair = await panva.generateKeyPair(alg);
    const jkt = await panva.calculateThumbprint(pair.publicKey);
    const token = await boundToken(jkt);
    const proof = await panva.generateProof(pair, URL_, 'GET', undefined, token);
    const claims = verifier().verifyRequest({ authorization: `DPoP ${token}`, dpop: proof, method: 'GET', url: `${URL_}?page=2` });
    assert.equal(claims.cnf.jkt, jkt, alg);
    // Our helper computes the same thumbprint from the same public key.
    assert.equal(await thumbprint(await crypto.subtle.exportKey('jwk', pair.publicKey)), jkt, alg);
  }
});

test('dpop-client proofs are valid JWS for jose, and verify here', async () => {
  const key = await generateDpopKey();
  assert.equal(key.alg, 'ES256');
  assert.equal(key.keyPair.privateKey.extractable, false);
  const token = await boundToken(key.thumbprint);
  const proof = await key.proof({ method: 'get', url: `${URL_}?q=1#frag`, accessToken: token });
  const { payload, protectedHeader } = await jose.jwtVerify(proof, jose.EmbeddedJWK, { typ: 'dpop+jwt' });
  assert.equal(payload.htu, URL_, 'no query or fragment in htu');
  assert.equal(payload.htm, 'GET');
  assert.equal(protectedHeader.jwk.d, undefined);
  assert.equal(await jose.calculateJwkThumbprint(protectedHeader.jwk), key.thumbprint);
  verifier().verifyRequest({ authorization: `DPoP ${token}`, dpop: proof, method: 'GET', url: URL_ });
  const ed = await generateDpopKey({ alg: 'EdDSA' });
  const edToken = await boundToken(ed.thumbprint);
  const edProof = await ed.proof({ method: 'GET', url: URL_, accessToken: edToken });
  verifier().verifyRequest({ authorization: `DPoP ${edToken}`, dpop: edProof, method: 'GET', url: URL_ });
});

test("behind a proxy: a bare path (Node's req.url) is checked under publicUrl; a bad publicUrl is a coded error", async () => {
  const pair = await panva.generateKeyPair('ES256');
  const token = await boundToken(await panva.calculateThumbprint(pair.publicKey));
  const proof = await panva.generateProof(pair, URL_, 'GET', undefined, token);
  const request = { authorization: `DPoP ${token}`, dpop: proof, method: 'GET', url: '/api/todos?page=2' };
  // Without a public URL there is nothing to match htu against: refused.
  throwsCode(() => verifier().verifyRequest(request), 'invalid_dpop_proof');
  verifier().verifyRequest(request, undefined, { publicUrl: 'https://api.example.com' });
  throwsCode(() => requestParts(request, { publicUrl: 'api.example.com' }), 'invalid_options');
});

test('every bad proof is a coded refusal', async () => {
  const key = await generateDpopKey();
  const thief = await generateDpopKey();
  const token = await boundToken(key.thumbprint);
  const proof = (over = {}) => key.proof({ method: 'GET', url: URL_, accessToken: token, ...over });
  const request = (dpop, authorization = `DPoP ${token}`, extra = {}) =>
    ({ authorization, dpop, method: 'GET', url: URL_, ...extra });
  const v = verifier();
  const cases = {
    'bound token as Bearer': request(await proof(), `Bearer ${token}`),
    'no proof': request(undefined),
    'two DPoP headers': request(`${await proof()}, ${await proof()}`),
    'another key': request(await thief.proof({ method: 'GET', url: URL_, accessToken: token })),
    'another method': request(await proof({ method: 'POST' })),
    'another URL': request(await proof({ url: 'https://api.example.com/api/other' })),
    'ath of another token': request(await proof({ accessToken: 'another' })),
    'no ath': request(await key.proof({ method: 'GET', url: URL_ })),
    'larger than 8 KiB': request(`${'a'.repeat(9000)}.b.c`),
  };
  for (const [name, req] of Object.entries(cases)) {
    assert.throws(() => v.verifyRequest(req), (error) => error.code === 'invalid_dpop_proof', name);
  }
  const once = request(await proof());
  v.verifyRequest(once);
  throwsCode(() => v.verifyRequest(once), 'invalid_dpop_proof');
  // A proof too old, or one with a private key: built with jose directly.
  const pair = await jose.generateKeyPair('ES256', { extractable: true });
  const publicJwk = await jose.exportJWK(pair.publicKey);
  const privateJwk = await jose.exportJWK(pair.privateKey);
  const signed = (jwk, claims) => new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .sign(pair.privateKey);
  const jkt = await jose.calculateJwkThumbprint(publicJwk);
  const token2 = await boundToken(jkt);
  const ath = jose.base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token2))));
  const claims = { jti: crypto.randomUUID(), htm: 'GET', htu: URL_, iat: nowSecs(), ath };
  v.verifyRequest(request(await signed(publicJwk, claims), `DPoP ${token2}`));
  const bad = [
    await signed(privateJwk, { ...claims, jti: 'x1' }),
    await signed(publicJwk, { ...claims, jti: 'x2', iat: nowSecs() - 600 }),
    await signed(publicJwk, { ...claims, jti: 'x3', iat: nowSecs() + 600 }),
  ];
  for (const proofJwt of bad) throwsCode(() => v.verifyRequest(request(proofJwt, `DPoP ${token2}`)), 'invalid_dpop_proof');
  // No token at all is not a DPoP matter.
  const lonely = await proof();
  throwsCode(() => v.verifyRequest({ dpop: lonely, method: 'GET', url: URL_ }), 'missing_token');
});

let issuer;
before(async () => {
  issuer = await startIssuer({ TOLLGATE_DPOP_NONCE: '1' });
});
after(async () => issuer.cleanup());

test('against a live issuer: a bound session works with its key, and a copy of its tokens does not', async () => {
  const email = `dpop-${crypto.randomUUID()}@example.com`;
  await post(`${issuer.url}/v1/auth/signup`, { email, password: PASSWORD, name: 'D' });
  const key = await generateDpopKey();
  const body = JSON.stringify({ email, password: PASSWORD, device: { id: 'laptop', type: 'node' } });
  // The issuer wants nonces: dpopFetch takes the one it is given and retries.
  const login = await dpopFetch(key, `${issuer.url}/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body,
  });
  assert.equal(login.status, 200, await login.clone().text());
  const tokens = await login.json();
  assert.equal(tokens.token_type, 'DPoP');

  const v = await createVerifier({ issuerUrl: issuer.url, issuer: ISS, audience: AUD, maxAgeMs: 500 });
  try {
    const api = 'http://api.test/api/todos';
    const signed = async (accessToken = tokens.access_token, scheme = 'DPoP', by = key) => new Request(api, {
      headers: {
        authorization: `${scheme} ${accessToken}`,
        dpop: await by.proof({ method: 'GET', url: api, accessToken }),
      },
    });
    const claims = await v.verifyRequest(await signed());
    assert.equal(claims.cnf.jkt, key.thumbprint);
    // Copied off the device: as Bearer, or with a proof of another key.
    for (const copy of [await signed(undefined, 'Bearer'), await signed(undefined, 'DPoP', await generateDpopKey())]) {
      await assert.rejects(v.verifyRequest(copy), (error) => error.code === 'invalid_dpop_proof');
    }
    // The refresh token alone is useless too, and nothing rotates.
    const stolen = await post(`${issuer.url}/v1/auth/refresh`, { refresh_token: tokens.refresh_token });
    assert.equal(stolen.status, 400);
    assert.equal(stolen.body.code, 'invalid_dpop_proof');
    const refreshed = await dpopFetch(key, `${issuer.url}/v1/auth/refresh`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    });
    assert.equal(refreshed.status, 200, await refreshed.clone().text());
    const next = await refreshed.json();
    await v.verifyRequest(await signed(next.access_token));

    // Logout with the bound token and a proof; the verifier refuses it within maxAgeMs + 100 ms.
    const logout = await dpopFetch(key, `${issuer.url}/v1/auth/logout`, { method: 'POST', accessToken: next.access_token });
    assert.equal(logout.status, 204, await logout.clone().text());
    const loggedOut = Date.now();
    for (;;) {
      try {
        await v.verifyRequest(await signed(next.access_token));
      } catch (error) {
        assert.equal(error.code, 'revoked');
        break;
      }
      assert.ok(Date.now() - loggedOut <= 600, 'still accepted past maxAgeMs + 100 ms');
      await sleep(20);
    }
  } finally {
    v.close();
  }
});

test('the issuer answers a proof without its nonce with use_dpop_nonce and a DPoP-Nonce', async () => {
  const key = await generateDpopKey();
  const url = `${issuer.url}/v1/auth/login`;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', dpop: await key.proof({ method: 'POST', url }) },
    body: JSON.stringify({ email: 'nobody@example.com', password: PASSWORD, device: { id: 'x', type: 'node' } }),
  });
  assert.equal(response.status, 400);
  assert.equal((await response.json()).code, 'use_dpop_nonce');
  assert.ok(response.headers.get('dpop-nonce'));
});
