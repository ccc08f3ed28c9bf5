// The npm package with a real upstream provider (oidc-provider) behind the
// tollgate issuer: `createVerifier` in Node and the Hono middleware in
// workerd accept the provider's RS256 access tokens (checked by WebCrypto;
// the wasm carries no RSA), report its claims, and refuse them once a
// logout at the provider has reached the issuer by back-channel, within
// maxAgeMs + 100 ms. The synchronous `Verifier` class, which has no
// WebCrypto to await, says `unsupported_alg` rather than guess.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHonoApp } from '../../../tests/harness/hono.js';
import { UPSTREAM, loginAt, logoutAt, reserveIdp, upstreamToml } from '../../../tests/harness/idp.js';
import { Verifier, createVerifier } from '../pkg/node.js';
import { startIssuer } from './support.js';

const MAX_AGE_MS = 200;

let idp;
let issuer;
let hono;

before(async () => {
  idp = await reserveIdp();
  const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'tollgate-up-'));
  writeFileSync(join(dir, 'upstreams.toml'), upstreamToml(idp.url));
  issuer = await startIssuer({ TOLLGATE_UPSTREAMS: join(dir, 'upstreams.toml') });
  await idp.configure({ backchannelLogoutUri: `${issuer.url}/v1/upstreams/${UPSTREAM}/backchannel-logout` });
  for (let i = 0; i < 150; i += 1) {
    const jwks = await fetch(`${issuer.url}/.well-known/jwks.json`).then((r) => r.json());
    if ((jwks.upstream_keys ?? []).some((key) => key.iss === idp.url)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  hono = await startHonoApp(`
    import { Hono } from 'hono';
    import { tollgate } from 'tollgate-verifier/hono';
    const app = new Hono();
    app.use('/api/*', tollgate((c) => ({ issuerUrl: c.env.ISSUER_URL, issuer: 'tollgate', audience: 'tollgate-api', maxAgeMs: ${MAX_AGE_MS} })));
    app.get('/api/me', (c) => c.json(c.get('tollgate')));
    export default app;
  `, { ISSUER_URL: issuer.url });
});

after(async () => {
  await hono?.close();
  await issuer?.cleanup();
  await idp?.close();
});

async function untilRefused(check, since, limitMs) {
  for (;;) {
    const code = await check();
    if (code) return { code, elapsed: performance.now() - since };
    if (performance.now() - since > limitMs + 2000) assert.fail(`still accepted after ${limitMs + 2000} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('createVerifier (Node) and the Hono middleware (workerd) verify the provider\'s tokens and refuse them after its logout', async () => {
  const session = await loginAt(idp.url, 'nina');
  const verifier = await createVerifier({ issuerUrl: issuer.url, issuer: 'tollgate', audience: 'tollgate-api', maxAgeMs: MAX_AGE_MS });
  try {
    const claims = await verifier.verify(session.access_token);
    assert.equal(claims.iss, idp.url);
    assert.equal(claims.sub, 'nina');
    assert.ok(claims.sid, 'the session, from the provider\'s sid claim');
    assert.deepEqual(claims.roles, ['openid', 'todo'], 'roles from its scope, as configured');
    const viaHono = await hono.mf.dispatchFetch('http://app.test/api/me', { headers: { authorization: `Bearer ${session.access_token}` } });
    assert.equal(viaHono.status, 200, await viaHono.clone().text());
    assert.equal((await viaHono.json()).iss, idp.url);

    // The synchronous class cannot await WebCrypto: it says so.
    const jwks = await fetch(`${issuer.url}/.well-known/jwks.json`).then((r) => r.json());
    const sync = new Verifier({ issuer: 'tollgate', audience: 'tollgate-api', jwks });
    assert.throws(() => sync.verify(session.access_token), (error) => error.code === 'unsupported_alg');

    await logoutAt(idp.url, session);
    const since = performance.now();
    const inNode = await untilRefused(async () => verifier.verify(session.access_token).then(() => null, (error) => error.code), since, MAX_AGE_MS + 100);
    assert.equal(inNode.code, 'revoked');
    assert.ok(inNode.elapsed <= MAX_AGE_MS + 100, `Node refused it after ${inNode.elapsed.toFixed(0)} ms`);
    const inWorkerd = await untilRefused(async () => {
      const reply = await hono.mf.dispatchFetch('http://app.test/api/me', { headers: { authorization: `Bearer ${session.access_token}` } });
      const body = await reply.json();
      return reply.status === 401 ? body.code : null;
    }, since, MAX_AGE_MS + 100);
    assert.equal(inWorkerd.code, 'revoked');
    assert.ok(inWorkerd.elapsed <= MAX_AGE_MS + 100, `workerd refused it after ${inWorkerd.elapsed.toFixed(0)} ms`);
  } finally {
    verifier.close();
  }
});
