// The edge worker in workerd (Miniflare), with a real issuer process and an
// origin that counts what reaches it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import { startEdge, startOrigin } from '../harness/edge.js';
import { ISSUER_BIN, login, post, sleep, startIssuer } from '../harness/issuer.js';

const seed = fileURLToPath(new URL('../../target/debug/examples/seed_revocations', import.meta.url));
let issuer;
let origin;
let edge;
const STATUS_TOKEN = 'a-status-token-for-tests';
const statusOf = (of) => of.send('/.tollgate/status', { token: STATUS_TOKEN });

before(async () => {
  issuer = await startIssuer({ TOLLGATE_KEY_RELOAD_SECS: '1', TOLLGATE_ACCESS_TTL_SECS: '4', TOLLGATE_LEEWAY_SECS: '0' });
  origin = await startOrigin();
  edge = await startEdge({ ISSUER_URL: issuer.url, ORIGIN_URL: origin.url, LEEWAY_SECS: '0', STATUS_TOKEN });
});
after(async () => {
  await edge.close();
  await origin.close();
  await issuer.cleanup();
});

/** Asserts a problem+json refusal by the edge. */
function refused(reply, status, code) {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.equal(reply.headers.get('content-type'), 'application/problem+json');
  assert.equal(reply.body.code, code);
  if (status === 401) assert.match(reply.headers.get('www-authenticate'), /^Bearer/);
}

/** Requests `path` with `token` until the edge refuses; resolves with the refusal and how long it took. */
async function untilRefused(token, limitMs = 2000) {
  const started = Date.now();
  for (;;) {
    const reply = await edge.send('/api/todos', { token });
    if (reply.status !== 200) return { reply, ms: Date.now() - started };
    assert.ok(Date.now() - started < limitMs, 'still accepted');
    await sleep(20);
  }
}

test('a valid token reaches the origin with identity headers; spoofed ones are dropped', async () => {
  const tokens = await login(issuer.url, 'valid@example.com');
  const before_ = origin.seen.length;
  const reply = await edge.send('/api/todos?page=2', {
    token: tokens.access_token,
    headers: { 'x-tollgate-sub': 'admin', 'x-tollgate-roles': 'ADMIN', 'x-other': 'kept' },
  });
  assert.equal(reply.status, 200);
  assert.equal(origin.seen.length, before_ + 1);
  const seen = origin.seen.at(-1);
  assert.equal(seen.url, '/api/todos?page=2');
  const claims = jose.decodeJwt(tokens.access_token);
  assert.equal(seen.headers['x-tollgate-sub'], claims.sub);
  assert.equal(seen.headers['x-tollgate-sid'], tokens.session_id);
  assert.equal(seen.headers['x-tollgate-roles'], 'USER');
  assert.equal(seen.headers['x-other'], 'kept');

  const posted = await edge.send('/api/todos', { token: tokens.access_token, method: 'POST', body: { title: 'x' } });
  assert.equal(posted.status, 200);
  assert.equal(origin.seen.at(-1).body, '{"title":"x"}');
  const cookie = await edge.send('/api/todos', { headers: { cookie: `theme=dark; access_token=${tokens.access_token}` } });
  assert.equal(cookie.status, 200);
});

test('public paths pass without a token, to the issuer or the origin; others need one', async () => {
  const jwks = await edge.send('/.well-known/jwks.json');
  assert.equal(jwks.status, 200);
  assert.ok(jwks.body.keys.length >= 1);
  const count = origin.seen.length;
  const open = await edge.send('/public/page', { headers: { 'x-tollgate-sub': 'spoof' } });
  assert.equal(open.status, 200);
  assert.equal(origin.seen.at(-1).headers['x-tollgate-sub'], undefined);
  refused(await edge.send('/api/todos'), 401, 'missing_token');
  assert.equal(origin.seen.length, count + 1);
});

test('after logout the next request past REVOCATION_MAX_AGE_MS is refused as revoked; the origin sees nothing', async () => {
  const tokens = await login(issuer.url, 'logout@example.com');
  assert.equal((await edge.send('/api/todos', { token: tokens.access_token })).status, 200);
  assert.equal((await post(`${issuer.url}/v1/auth/logout`, null, tokens.access_token)).status, 204);
  await sleep(220);
  const count = origin.seen.length;
  refused(await edge.send('/api/todos', { token: tokens.access_token }), 401, 'revoked');
  assert.equal(origin.seen.length, count, 'the origin never saw the refused request');
});

test('twenty concurrent requests on stale state share one sync and all pass', async () => {
  const tokens = await login(issuer.url, 'burst@example.com');
  await sleep(250); // past REVOCATION_MAX_AGE_MS: the next requests must sync
  const deltaPolls = async () => {
    const text = await (await fetch(`${issuer.url}/metrics`)).text();
    return Number(text.match(/tollgate_feed_polls_total\{kind="delta"\} (\d+)/)[1]);
  };
  const before_ = await deltaPolls();
  const replies = await Promise.all(Array.from({ length: 20 }, () => edge.send('/api/todos', { token: tokens.access_token })));
  assert.deepEqual(replies.map((r) => r.status), Array(20).fill(200));
  assert.equal(await deltaPolls() - before_, 1, 'one feed request served all twenty');
});

test('logout-all and a relogin from the same device are refused at the edge too', async () => {
  const a = await login(issuer.url, 'all@example.com', 'a');
  const b = await login(issuer.url, 'all@example.com', 'b');
  assert.equal((await post(`${issuer.url}/v1/auth/logout-all`, null, b.access_token)).status, 204);
  refused((await untilRefused(a.access_token)).reply, 401, 'revoked');
  refused((await untilRefused(b.access_token)).reply, 401, 'revoked');

  const old = await login(issuer.url, 'again@example.com', 'phone');
  const fresh = await login(issuer.url, 'again@example.com', 'phone');
  refused((await untilRefused(old.access_token)).reply, 401, 'revoked');
  assert.equal((await edge.send('/api/todos', { token: fresh.access_token })).status, 200);
});

test('tampered, unknown-key, wrong-audience and expired tokens are refused at the edge', async () => {
  const tokens = await login(issuer.url, 'bad@example.com');
  const [h, p, s] = tokens.access_token.split('.');
  const tampered = `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
  refused(await edge.send('/api/todos', { token: tampered }), 401, 'bad_signature');

  const { privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const foreign = await new jose.SignJWT({ ...jose.decodeJwt(tokens.access_token) })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'not-the-issuers', typ: 'at+jwt' })
    .sign(privateKey);
  refused(await edge.send('/api/todos', { token: foreign }), 401, 'unknown_kid');

  const other = await startEdge({ ISSUER_URL: issuer.url, ORIGIN_URL: origin.url, AUDIENCE: 'another-api' });
  try {
    refused(await other.send('/api/todos', { token: tokens.access_token }), 401, 'wrong_audience');
  } finally {
    await other.close();
  }
  const count = origin.seen.length;
  await sleep(4100); // the issuer here signs 4-second tokens, and the edge allows no leeway
  refused(await edge.send('/api/todos', { token: tokens.access_token }), 401, 'expired');
  assert.equal(origin.seen.length, count);
});

test('a key rotation at the issuer is followed without restarting the worker', async () => {
  const rotate = execFileSync(ISSUER_BIN, ['keys', 'rotate'], {
    env: { ...process.env, TOLLGATE_DATA_DIR: issuer.dataDir, DATABASE_URL: '', RUST_LOG: 'warn' },
    encoding: 'utf8',
  });
  const kid = rotate.trim().split(' ').pop();
  let tokens;
  for (let i = 0; i < 50; i++) {
    tokens = await login(issuer.url, 'rotation@example.com', `d${i}`);
    if (jose.decodeProtectedHeader(tokens.access_token).kid === kid) break;
    await sleep(100);
  }
  assert.equal(jose.decodeProtectedHeader(tokens.access_token).kid, kid);
  // The issuer publishes a new key when it starts signing with it, and the
  // unknown-kid refetch may be in its cooldown (the previous test used it):
  // the edge learns the key from its next sync, within the sync bound.
  const minted = Date.now();
  for (;;) {
    const reply = await edge.send('/api/todos', { token: tokens.access_token });
    if (reply.status === 200) break;
    refused(reply, 401, 'unknown_kid');
    assert.ok(Date.now() - minted < 200 + 100, `refused ${Date.now() - minted} ms after the first token of the new key`);
    await sleep(10);
  }
});

test('after keys withdraw at the issuer, the edge refuses that key\'s tokens within REVOCATION_MAX_AGE_MS + 100 ms', async () => {
  const cli = (...args) => execFileSync(ISSUER_BIN, args, {
    env: { ...process.env, TOLLGATE_DATA_DIR: issuer.dataDir, DATABASE_URL: '', RUST_LOG: 'warn' },
    encoding: 'utf8',
  });
  const tokens = await login(issuer.url, 'withdrawn@example.com');
  const { kid } = jose.decodeProtectedHeader(tokens.access_token);
  assert.equal((await edge.send('/api/todos', { token: tokens.access_token })).status, 200);
  cli('keys', 'withdraw', kid);
  const withdrawn = Date.now();
  for (;;) {
    const reply = await edge.send('/api/todos', { token: tokens.access_token });
    if (reply.status === 401) {
      refused(reply, 401, 'unknown_kid');
      break;
    }
    assert.equal(reply.status, 200);
    assert.ok(Date.now() - withdrawn < 200 + 100, `still accepted ${Date.now() - withdrawn} ms after the withdrawal`);
    await sleep(10);
  }
  const fresh = await login(issuer.url, 'withdrawn@example.com', 'again');
  assert.notEqual(jose.decodeProtectedHeader(fresh.access_token).kid, kid);
  assert.equal((await edge.send('/api/todos', { token: fresh.access_token })).status, 200);
});

test('a fresh worker with 10,000 revocations at the issuer refuses a revoked token on its first request', async () => {
  const tokens = await login(issuer.url, 'cold@example.com');
  await post(`${issuer.url}/v1/auth/logout`, null, tokens.access_token);
  execFileSync(seed, [], { env: { ...process.env, TOLLGATE_DATA_DIR: issuer.dataDir, DATABASE_URL: '', SEED_COUNT: '10000' } });
  const cold = await startEdge({ ISSUER_URL: issuer.url, ORIGIN_URL: origin.url, LEEWAY_SECS: '0', STATUS_TOKEN });
  try {
    const count = origin.seen.length;
    refused(await cold.send('/api/todos', { token: tokens.access_token }), 401, 'revoked');
    assert.equal(origin.seen.length, count);
    const status = await statusOf(cold);
    assert.ok(status.body.revoked >= 10001, JSON.stringify(status.body));
    assert.equal(status.body.last_error, null);
  } finally {
    await cold.close();
  }
});

test('with the issuer down it serves from the last state until FAIL_AFTER_MS, then 503, then recovers', async () => {
  const port = new URL(issuer.url).port;
  // The previous test added 10,000 revocations; on a loaded machine the
  // edge may still be catching up (and rightly refuses once FAIL_AFTER_MS
  // passes mid-way). This test is about the issuer going away, so start
  // from a caught-up edge.
  const tokens = await login(issuer.url, 'down@example.com');
  const caughtUp = Date.now();
  for (;;) {
    const { body } = await statusOf(edge);
    if (body.revoked >= 10001 && !body.syncing && body.age_ms < 200) break;
    assert.ok(Date.now() - caughtUp < 20000, `the edge did not catch up: ${JSON.stringify(body)}`);
    await edge.send('/api/todos', { token: tokens.access_token });
    await sleep(50);
  }
  assert.equal((await edge.send('/api/todos', { token: tokens.access_token })).status, 200);
  await issuer.stop();
  await sleep(300);
  assert.equal((await edge.send('/api/todos', { token: tokens.access_token })).status, 200, 'stale state still serves');
  const status = await statusOf(edge);
  assert.ok(status.body.last_error, 'the failed sync is reported');
  const anonymous = await edge.send('/.tollgate/status');
  assert.deepEqual(Object.keys(anonymous.body).sort(), ['age_ms', 'ready'], 'no detail for anonymous callers');
  assert.ok(!JSON.stringify(anonymous.body).includes(issuer.url), 'the issuer URL is not shown');
  const guessed = await edge.send('/.tollgate/status', { token: 'a-status-token-for-testz' });
  assert.equal(guessed.body.last_error, undefined, 'a wrong token sees no detail');
  await sleep(1400);
  refused(await edge.send('/api/todos', { token: tokens.access_token }), 503, 'revocation_state_stale');
  // What cannot be a token is refused as such, whatever the state: its
  // answer is not the issuer's to give, and a client must not be told to
  // retry it.
  refused(await edge.send('/api/todos', { token: 'abc.d$f.ghi' }), 401, 'malformed');
  refused(await edge.send('/api/todos', { token: `${'a'.repeat(9000)}.b.c` }), 401, 'token_too_large');

  issuer = await startIssuer({ TOLLGATE_BIND: `127.0.0.1:${port}`, TOLLGATE_ACCESS_TTL_SECS: '4', TOLLGATE_LEEWAY_SECS: '0' }, issuer.dataDir);
  const again = await login(issuer.url, 'down@example.com', 'node2');
  // Retries run in the background, at most one per REVOCATION_MAX_AGE_MS here.
  const back = Date.now();
  while ((await edge.send('/api/todos', { token: again.access_token })).status !== 200) {
    assert.ok(Date.now() - back < 1000, 'did not recover by itself');
    await sleep(20);
  }
});
