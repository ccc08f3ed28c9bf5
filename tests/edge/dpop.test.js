// DPoP at the edge (workerd, Miniflare): a device logs in through the edge
// with a proof, so its session is bound to its key; its token then reaches
// the origin only with a fresh proof of that key for the request. Every bad
// proof on issue 13's list gets 401 with its code and a DPoP challenge, and
// nothing of it reaches the origin.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as jose from 'jose';
import { generateDpopKey } from '../../edge-verifier/wasm/pkg/dpop-client.js';
import { startEdge, startOrigin } from '../harness/edge.js';
import { PASSWORD, post, startIssuer } from '../harness/issuer.js';

const EDGE = 'http://edge.test';
let issuer;
let origin;
let edge;

before(async () => {
  // The issuer is reached through the edge: proofs name the edge's URL.
  issuer = await startIssuer({ TOLLGATE_PUBLIC_URL: EDGE });
  origin = await startOrigin();
  edge = await startEdge({ ISSUER_URL: issuer.url, ORIGIN_URL: origin.url });
});
after(async () => {
  await edge.close();
  await origin.close();
  await issuer.cleanup();
});

/** Sends `path` through the edge with raw headers (an array of pairs, so a header can repeat). */
async function send(path, headers, method = 'GET', body) {
  const response = await edge.mf.dispatchFetch(`${EDGE}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** A device key, logged in through the edge with a proof: its bound tokens. */
async function boundLogin(key, device) {
  const email = `${device}-${crypto.randomUUID()}@example.com`;
  await post(`${issuer.url}/v1/auth/signup`, { email, password: PASSWORD, name: 'D' });
  const proof = await key.proof({ method: 'POST', url: `${EDGE}/v1/auth/login` });
  const reply = await send('/v1/auth/login', [['content-type', 'application/json'], ['dpop', proof]], 'POST',
    JSON.stringify({ email, password: PASSWORD, device: { id: device, type: 'node' } }));
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.equal(reply.body.token_type, 'DPoP');
  return reply.body;
}

test('a bound token with a fresh proof of its key reaches the origin, proof and all', async () => {
  const key = await generateDpopKey();
  const tokens = await boundLogin(key, 'good');
  assert.equal(jose.decodeJwt(tokens.access_token).cnf.jkt, key.thumbprint);
  const count = origin.seen.length;
  const proof = await key.proof({ method: 'GET', url: `${EDGE}/api/todos`, accessToken: tokens.access_token });
  const reply = await send('/api/todos?page=2', [['authorization', `DPoP ${tokens.access_token}`], ['dpop', proof]]);
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.equal(origin.seen.length, count + 1);
  const seen = origin.seen.at(-1);
  assert.equal(seen.headers['x-tollgate-sid'], tokens.session_id);
  // The origin gets what it needs to check again itself.
  assert.equal(seen.headers.dpop, proof);
  assert.equal(seen.headers.authorization, `DPoP ${tokens.access_token}`);
  // And the issuer's own Bearer routes, through the edge, take the proof too.
  const me = await send('/v1/users/me', [
    ['authorization', `DPoP ${tokens.access_token}`],
    ['dpop', await key.proof({ method: 'GET', url: `${EDGE}/v1/users/me`, accessToken: tokens.access_token })],
  ]);
  assert.equal(me.status, 200, JSON.stringify(me.body));
});

test('every bad proof is refused at the edge with its code, and nothing reaches the origin', async () => {
  const key = await generateDpopKey();
  const thief = await generateDpopKey();
  const tokens = await boundLogin(key, 'attacked');
  const token = tokens.access_token;
  const url = `${EDGE}/api/todos`;
  const proof = (over = {}) => key.proof({ method: 'GET', url, accessToken: token, ...over });
  const dpopAuth = ['authorization', `DPoP ${token}`];

  // Proofs jose builds by hand, for what our helper would never make.
  const pair = await jose.generateKeyPair('ES256', { extractable: true });
  const privateJwk = await jose.exportJWK(pair.privateKey);
  const sha = async (text) => jose.base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
  const now = Math.floor(Date.now() / 1000);
  const handMade = (header, claims) => new jose.SignJWT({ jti: crypto.randomUUID(), htm: 'GET', htu: url, iat: now, ...claims })
    .setProtectedHeader(header).sign(pair.privateKey);
  const publicJwk = key.publicJwk;
  const b64 = (value) => jose.base64url.encode(JSON.stringify(value));
  const unsigned = `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: publicJwk })}.${b64({ jti: 'n', htm: 'GET', htu: url, iat: now, ath: await sha(token) })}.`;
  const hs256 = await new jose.SignJWT({ jti: 'h', htm: 'GET', htu: url, iat: now, ath: await sha(token) })
    .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw' } })
    .sign(new TextEncoder().encode('secretsecretsecretsecretsecrets!'));

  const replayed = await proof();
  const first = await send('/api/todos', [dpopAuth, ['dpop', replayed]]);
  assert.equal(first.status, 200);

  const cases = [
    ['a proof signed by another key', [dpopAuth, ['dpop', await thief.proof({ method: 'GET', url, accessToken: token })]], 'invalid_dpop_proof'],
    ['a proof for another method', [dpopAuth, ['dpop', await proof({ method: 'POST' })]], 'invalid_dpop_proof'],
    ['a proof for another URL', [dpopAuth, ['dpop', await proof({ url: `${EDGE}/api/other` })]], 'invalid_dpop_proof'],
    ['a query in htu', [dpopAuth, ['dpop', await handMade({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(pair.publicKey) }, { htu: `${url}?a=1`, ath: await sha(token) })]], 'invalid_dpop_proof'],
    ['a fragment in htu', [dpopAuth, ['dpop', await handMade({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(pair.publicKey) }, { htu: `${url}#x`, ath: await sha(token) })]], 'invalid_dpop_proof'],
    ['a replayed jti', [dpopAuth, ['dpop', replayed]], 'invalid_dpop_proof'],
    ['iat too old', [dpopAuth, ['dpop', await handMade({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(pair.publicKey) }, { iat: now - 600, ath: await sha(token) })]], 'invalid_dpop_proof'],
    ['iat in the future', [dpopAuth, ['dpop', await handMade({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(pair.publicKey) }, { iat: now + 600, ath: await sha(token) })]], 'invalid_dpop_proof'],
    ['no ath', [dpopAuth, ['dpop', await key.proof({ method: 'GET', url })]], 'invalid_dpop_proof'],
    ['a wrong ath', [dpopAuth, ['dpop', await proof({ accessToken: 'someone else' })]], 'invalid_dpop_proof'],
    ['a private key in jwk', [dpopAuth, ['dpop', await handMade({ alg: 'ES256', typ: 'dpop+jwt', jwk: privateJwk }, { ath: await sha(token) })]], 'invalid_dpop_proof'],
    ['alg none', [dpopAuth, ['dpop', unsigned]], 'invalid_dpop_proof'],
    ['HS256', [dpopAuth, ['dpop', hs256]], 'invalid_dpop_proof'],
    ['typ not dpop+jwt', [dpopAuth, ['dpop', await handMade({ alg: 'ES256', typ: 'JWT', jwk: await jose.exportJWK(pair.publicKey) }, { ath: await sha(token) })]], 'invalid_dpop_proof'],
    ['a proof larger than 8 KiB', [dpopAuth, ['dpop', await proof().then((p) => p + 'A'.repeat(9000))]], 'invalid_dpop_proof'],
    ['the bound token sent as Bearer', [['authorization', `Bearer ${token}`], ['dpop', await proof()]], 'invalid_dpop_proof'],
    ['the bound token in the cookie', [['cookie', `access_token=${token}`]], 'invalid_dpop_proof'],
    ['two DPoP headers', [dpopAuth, ['dpop', await proof()], ['dpop', await proof()]], 'invalid_dpop_proof'],
    ['a proof without a token', [['dpop', await proof()]], 'missing_token'],
  ];
  const count = origin.seen.length;
  for (const [name, headers, code] of cases) {
    const reply = await send('/api/todos', headers);
    assert.equal(reply.status, 401, `${name}: ${JSON.stringify(reply.body)}`);
    assert.equal(reply.body.code, code, name);
    assert.equal(reply.headers.get('content-type'), 'application/problem+json', name);
    const challenge = reply.headers.get('www-authenticate');
    if (code === 'invalid_dpop_proof') assert.match(challenge, /^DPoP algs="ES256 EdDSA Ed25519", error="invalid_dpop_proof"$/, name);
    // RFC 9449 §7.1: a client that sent a proof is offered the DPoP scheme too.
    else assert.equal(challenge, 'Bearer, DPoP algs="ES256 EdDSA Ed25519"', name);
  }
  assert.equal(origin.seen.length, count, 'a refused request reached the origin');
});

test('a stolen bound refresh token is refused through the edge, and rotates nothing', async () => {
  const key = await generateDpopKey();
  const tokens = await boundLogin(key, 'refresh');
  const body = JSON.stringify({ refresh_token: tokens.refresh_token });
  const json = ['content-type', 'application/json'];
  const thief = await generateDpopKey();
  const stolen = await send('/v1/auth/refresh', [json, ['dpop', await thief.proof({ method: 'POST', url: `${EDGE}/v1/auth/refresh` })]], 'POST', body);
  assert.equal(stolen.status, 400);
  assert.equal(stolen.body.code, 'invalid_dpop_proof');
  const own = await send('/v1/auth/refresh', [json, ['dpop', await key.proof({ method: 'POST', url: `${EDGE}/v1/auth/refresh` })]], 'POST', body);
  assert.equal(own.status, 200, JSON.stringify(own.body));
  assert.equal(own.body.token_type, 'DPoP');
});
