// `tollgate-verifier/hono` in a Hono app running in workerd (Miniflare),
// against a live issuer process: a valid token passes with its claims on
// the context, a logged-out one is refused within maxAgeMs + 100 ms, a
// missing one is 401 `missing_token`, a stopped issuer turns into 503
// `revocation_state_stale`, client-sent x-tollgate-* headers never reach
// the app, and a DPoP-bound token needs a proof of its key. The app is
// bundled with esbuild as wrangler would.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startHonoApp } from '../../../tests/harness/hono.js';
import { dpopFetch, generateDpopKey } from '../pkg/dpop-client.js';
import { PASSWORD, login, post, sleep, startIssuer } from './support.js';

const MAX_AGE_MS = 200;
const FAIL_AFTER_MS = 1500;

const app = `
import { Hono } from 'hono';
import { tollgate } from 'tollgate-verifier/hono';

const app = new Hono();
app.use('/api/*', tollgate((c) => ({
  issuerUrl: c.env.ISSUER_URL, issuer: 'tollgate', audience: 'tollgate-api',
  maxAgeMs: ${MAX_AGE_MS}, failAfterMs: ${FAIL_AFTER_MS}, cookie: 'access_token',
})));
app.use('/open/*', tollgate((c) => ({
  issuerUrl: c.env.ISSUER_URL, issuer: 'tollgate', audience: 'tollgate-api', allowAnonymous: true,
})));
const show = (c) => c.json({
  sub: c.get('tollgate')?.sub ?? null,
  spoofed: c.req.header('x-tollgate-sub') ?? null,
  underscored: c.req.header('x_tollgate_sub') ?? null,
});
app.get('/api/me', show);
app.get('/open/me', show);
export default app;
`;

let issuer;
let hono;
let mf;

before(async () => {
  issuer = await startIssuer();
  hono = await startHonoApp(app, { ISSUER_URL: issuer.url });
  ({ mf } = hono);
});
after(async () => {
  await hono?.close();
  await issuer.cleanup();
});

async function get(path, headers = {}) {
  const response = await mf.dispatchFetch(`http://app.test${path}`, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) };
}

function refused(reply, status, code) {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.equal(reply.headers.get('content-type'), 'application/problem+json');
  assert.equal(reply.body.code, code);
}

test('a valid token reaches the handler with its claims; spoofed x-tollgate-* headers do not', async () => {
  const tokens = await login(issuer.url, 'hono@example.com');
  const reply = await get('/api/me', {
    authorization: `Bearer ${tokens.access_token}`, 'x-tollgate-sub': 'admin', x_tollgate_sub: 'admin',
  });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.equal(reply.body.spoofed, null);
  assert.equal(reply.body.underscored, null, 'x_tollgate_sub reads as x-tollgate-sub to CGI-style origins');
  assert.match(reply.body.sub, /^[0-9a-f-]{36}$/);
  const cookie = await get('/api/me', { cookie: `theme=dark; access_token=${tokens.access_token}` });
  assert.equal(cookie.status, 200);
});

test('no token: 401 missing_token with a bare Bearer challenge; anonymous routes let it through', async () => {
  const reply = await get('/api/me', { 'x-tollgate-sub': 'admin' });
  refused(reply, 401, 'missing_token');
  assert.equal(reply.headers.get('www-authenticate'), 'Bearer');
  const open = await get('/open/me', { 'x-tollgate-sub': 'admin', x_tollgate_sub: 'admin' });
  assert.deepEqual(open.body, { sub: null, spoofed: null, underscored: null });
  // A client that sent a DPoP proof is offered the DPoP scheme too (RFC 9449 §7.1).
  const withProof = await get('/api/me', { dpop: 'a.b.c' });
  refused(withProof, 401, 'missing_token');
  assert.equal(withProof.headers.get('www-authenticate'), 'Bearer, DPoP algs="ES256 EdDSA Ed25519"');
  refused(await get('/api/me', { authorization: 'Bearer not-a-token' }), 401, 'malformed');
});

test('after logout the token is refused as revoked within maxAgeMs + 100 ms', async () => {
  const tokens = await login(issuer.url, 'hono-logout@example.com');
  const auth = { authorization: `Bearer ${tokens.access_token}` };
  assert.equal((await get('/api/me', auth)).status, 200);
  assert.equal((await post(`${issuer.url}/v1/auth/logout`, null, tokens.access_token)).status, 204);
  const loggedOut = Date.now();
  for (;;) {
    const reply = await get('/api/me', auth);
    if (reply.status === 401) {
      refused(reply, 401, 'revoked');
      assert.match(reply.headers.get('www-authenticate'), /error_description="revoked"/);
      break;
    }
    assert.ok(Date.now() - loggedOut < MAX_AGE_MS + 100, 'still accepted after maxAgeMs + 100 ms');
    await sleep(10);
  }
});

test('a DPoP-bound token passes with a proof of its key; as Bearer, replayed or with another key it is refused', async () => {
  const key = await generateDpopKey();
  const email = `hono-dpop-${crypto.randomUUID()}@example.com`;
  await post(`${issuer.url}/v1/auth/signup`, { email, password: PASSWORD, name: 'H' });
  const login = await dpopFetch(key, `${issuer.url}/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD, device: { id: 'hono', type: 'node' } }),
  });
  const tokens = await login.json();
  assert.equal(tokens.token_type, 'DPoP');
  const token = tokens.access_token;
  const url = 'http://app.test/api/me';
  const proof = await key.proof({ method: 'GET', url, accessToken: token });
  const ok = await get('/api/me', { authorization: `DPoP ${token}`, dpop: proof });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  const dpopRefusal = (reply) => {
    refused(reply, 401, 'invalid_dpop_proof');
    assert.match(reply.headers.get('www-authenticate'), /^DPoP algs=".*", error="invalid_dpop_proof"$/);
  };
  dpopRefusal(await get('/api/me', { authorization: `DPoP ${token}`, dpop: proof }));
  dpopRefusal(await get('/api/me', { authorization: `Bearer ${token}` }));
  const thief = await generateDpopKey();
  dpopRefusal(await get('/api/me', {
    authorization: `DPoP ${token}`, dpop: await thief.proof({ method: 'GET', url, accessToken: token }),
  }));
});

test('with the issuer stopped, 503 revocation_state_stale once failAfterMs has passed', async () => {
  const tokens = await login(issuer.url, 'hono-stale@example.com');
  const auth = { authorization: `Bearer ${tokens.access_token}` };
  assert.equal((await get('/api/me', auth)).status, 200);
  await issuer.stop();
  const stopped = Date.now();
  for (;;) {
    const reply = await get('/api/me', auth);
    if (reply.status === 503) {
      refused(reply, 503, 'revocation_state_stale');
      break;
    }
    assert.equal(reply.status, 200);
    assert.ok(Date.now() - stopped < FAIL_AFTER_MS + 1000, 'still serving past failAfterMs + 1 s');
    await sleep(50);
  }
});
