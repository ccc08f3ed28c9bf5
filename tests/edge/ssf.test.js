// Shared Signals (SSF 1.0 / CAEP 1.0) into tollgate: Security Event Tokens
// minted with jose (the reference JS JOSE library, independent of our
// Rust) by a scripted transmitter, pushed to the issuer (RFC 8935) and
// polled by it (RFC 8936), each turned into a refusal at the edge within
// the sync bound; a bad one refused and reported, revoking nothing.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startStack } from '../harness/stack.js';

const MAX_AGE_MS = 1000;
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const CREDENTIAL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/credential-change';
const POLL_BEARER = 'poll-credential-0123456789';

let stack;
let transmitter;

/** A provider and SSF transmitter: discovery, JWKS, a poll endpoint, and jose to mint tokens. */
async function startTransmitter() {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'tx-1', alg: 'RS256', use: 'sig' };
  const queue = new Map(); // jti -> SET
  const acks = [];
  const errors = {};
  let unauthorized = 0;
  const server = createServer(async (req, res) => {
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') return json(200, { issuer: url, jwks_uri: `${url}/jwks` });
    if (req.url === '/jwks') return json(200, { keys: [jwk] });
    if (req.url === '/poll' && req.method === 'POST') {
      if (req.headers.authorization !== `Bearer ${POLL_BEARER}`) {
        unauthorized += 1;
        return json(401, { error: 'invalid_token' });
      }
      let body = '';
      for await (const chunk of req) body += chunk;
      const poll = JSON.parse(body);
      for (const jti of poll.ack ?? []) {
        acks.push(jti);
        queue.delete(jti);
      }
      for (const [jti, error] of Object.entries(poll.setErrs ?? {})) {
        errors[jti] = error;
        queue.delete(jti);
      }
      return json(200, { sets: Object.fromEntries(queue), moreAvailable: false });
    }
    json(404, {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const set = (claims, header = {}) => new SignJWT({ aud: 'tollgate', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'tx-1', typ: 'secevent+jwt', ...header })
    .setIssuer(url)
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .sign(privateKey);
  const accessToken = (sub, sid) => new SignJWT({ sid, scope: 'todo' })
    .setProtectedHeader({ alg: 'RS256', kid: 'tx-1', typ: 'at+jwt' })
    .setIssuer(url)
    .setSubject(sub)
    .setAudience('tollgate-api')
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(crypto.randomUUID())
    .sign(privateKey);
  const close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  });
  return { url, set, accessToken, queue, acks, errors, close, get unauthorized() { return unauthorized; } };
}

before(async () => {
  transmitter = await startTransmitter();
  stack = await startStack({
    maxAgeMs: MAX_AGE_MS,
    upstreams: `[[upstream]]
name = "ssf-idp"
issuer = "${transmitter.url}"
audiences = ["tollgate-api"]
client_id = "tollgate"
max_token_lifetime_secs = 600
refresh_secs = 1

[upstream.ssf]
poll_url = "${transmitter.url}/poll"
bearer = "${POLL_BEARER}"
poll_interval_ms = 200
`,
  });
  // The issuer fetches the transmitter's keys on its own.
  for (let i = 0; i < 100; i += 1) {
    const jwks = await fetch(`${stack.issuerUrl}/.well-known/jwks.json`).then((r) => r.json());
    if ((jwks.upstream_keys ?? []).some((key) => key.iss === transmitter.url)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

after(async () => {
  await stack?.stop();
  await transmitter?.close();
});

const api = (token) => fetch(`${stack.edgeUrl}/api/todos`, { headers: { authorization: `Bearer ${token}` } });

async function refusedWithin(token, since, limitMs) {
  for (;;) {
    const reply = await api(token);
    const text = await reply.text();
    if (reply.status === 401) return { code: JSON.parse(text).code, elapsed: performance.now() - since };
    assert.equal(reply.status, 200, text);
    if (performance.now() - since > limitMs + 2000) assert.fail(`still accepted after ${limitMs + 2000} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a pushed CAEP credential-change cuts the user off at the edge within max age + 100 ms', async () => {
  const zoe = await transmitter.accessToken('zoe', 'zoe-session');
  const other = await transmitter.accessToken('xavier', 'x-session');
  assert.equal((await api(zoe)).status, 200);
  const set = await transmitter.set({
    sub_id: { format: 'iss_sub', iss: transmitter.url, sub: 'zoe' },
    events: { [CREDENTIAL_CHANGE]: { credential_type: 'password', change_type: 'update' } },
  });
  const pushed = await fetch(`${stack.issuerUrl}/v1/upstreams/ssf-idp/events`, {
    method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: set,
  });
  assert.equal(pushed.status, 202, await pushed.clone().text());
  const since = performance.now();
  const refused = await refusedWithin(zoe, since, MAX_AGE_MS + 100);
  assert.equal(refused.code, 'revoked');
  assert.ok(refused.elapsed <= MAX_AGE_MS + 100, `refused after ${refused.elapsed.toFixed(0)} ms`);
  assert.equal((await api(other)).status, 200, 'another user is untouched');
  // A token zoe gets after the change (a new login) is not cut off.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal((await api(await transmitter.accessToken('zoe', 'zoe-2'))).status, 200);

  // The same SET again, and one for another audience: refused in RFC 8935's shape.
  for (const [body, err] of [[set, 'invalid_request'], [await transmitter.set({ aud: 'someone-else', sub_id: { format: 'opaque', id: 'xavier' }, events: { [CREDENTIAL_CHANGE]: {} } }), 'invalid_audience']]) {
    const reply = await fetch(`${stack.issuerUrl}/v1/upstreams/ssf-idp/events`, {
      method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body,
    });
    assert.equal(reply.status, 400);
    assert.equal((await reply.json()).err, err);
  }
  assert.equal((await api(other)).status, 200, 'a refused SET revokes nothing');
});

test('a polled CAEP session-revoked ends that session, is acknowledged, and a bad SET is reported', async () => {
  const yann = await transmitter.accessToken('yann', 'sess-9');
  const yannElsewhere = await transmitter.accessToken('yann', 'sess-10');
  assert.equal((await api(yann)).status, 200);
  const good = await transmitter.set({
    sub_id: {
      format: 'complex',
      user: { format: 'iss_sub', iss: transmitter.url, sub: 'yann' },
      session: { format: 'opaque', id: 'sess-9' },
    },
    events: { [SESSION_REVOKED]: { event_timestamp: Math.floor(Date.now() / 1000) } },
  });
  const bad = await transmitter.set({ sub_id: { format: 'phone_number', phone_number: '+15555550100' }, events: { [SESSION_REVOKED]: {} } });
  const [goodJti, badJti] = [good, bad].map((token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).jti);
  transmitter.queue.set(goodJti, good);
  transmitter.queue.set(badJti, bad);
  const since = performance.now();
  const refused = await refusedWithin(yann, since, 200 + MAX_AGE_MS + 300);
  assert.equal(refused.code, 'revoked');
  assert.ok(refused.elapsed <= 200 + MAX_AGE_MS + 300, `refused after ${refused.elapsed.toFixed(0)} ms`);
  assert.equal((await api(yannElsewhere)).status, 200, 'only that session');
  for (let i = 0; i < 50 && !(transmitter.acks.includes(goodJti) && transmitter.errors[badJti]); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(transmitter.acks.includes(goodJti), 'the good SET is acknowledged');
  assert.equal(transmitter.errors[badJti]?.err, 'invalid_request');
  assert.equal(transmitter.unauthorized, 0, 'every poll carried the bearer credential');
});
