// Clients that hang up, against the npm package's two server-side
// adapters on real sockets: createVerifier in a Node HTTP server, and the
// Hono middleware in workerd (which cancels a request whose client went
// away). A sync whose requester left must still complete, nobody may wait
// on a fetch nobody drives, and a first request cancelled while the
// verifier is being made must not wedge the isolate.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { createVerifier } from '../pkg/node.js';
import { hangUp, rawStatus, revokedAfterHangUp, waitBehindAbandonedRefetch } from '../../../tests/harness/hangup.js';
import { startHonoApp } from '../../../tests/harness/hono.js';
import { AUD, ISS, startStubIssuer } from '../../../tests/harness/stub-issuer.js';

const MAX_AGE_MS = 200;
const REQUEST_TIMEOUT_MS = 1000;
const FAIL_AFTER_MS = 30000;

/** A Node server whose handler answers 200 for a token createVerifier accepts. */
async function nodeServer(stub, requestTimeoutMs) {
  const tollgate = await createVerifier({
    issuerUrl: stub.url, issuer: ISS, audience: AUD,
    maxAgeMs: MAX_AGE_MS, failAfterMs: FAIL_AFTER_MS, requestTimeoutMs,
  });
  const server = createServer(async (req, res) => {
    try {
      await tollgate.verifyRequest({ authorization: req.headers.authorization });
      res.writeHead(200).end('ok');
    } catch (error) {
      res.writeHead(error.code === 'revocation_state_stale' ? 503 : 401).end(error.code);
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      tollgate.close();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const honoSource = (requestTimeoutMs) => `
import { Hono } from 'hono';
import { tollgate } from 'tollgate-verifier/hono';

const app = new Hono();
app.use('/api/*', tollgate((c) => ({
  issuerUrl: c.env.ISSUER_URL, issuer: '${ISS}', audience: '${AUD}',
  maxAgeMs: ${MAX_AGE_MS}, failAfterMs: ${FAIL_AFTER_MS}, requestTimeoutMs: ${requestTimeoutMs},
})));
app.get('/api/me', (c) => c.text('ok'));
export default app;
`;

/** The Hono middleware in workerd on a real listener. */
async function honoServer(stub, requestTimeoutMs) {
  return startHonoApp(honoSource(requestTimeoutMs), { ISSUER_URL: stub.url }, { host: '127.0.0.1', port: 0 });
}

for (const [name, start] of [['createVerifier in Node', nodeServer], ['the Hono middleware in workerd', honoServer]]) {
  test(`${name}: a client that hangs up mid-sync lets no revoked token through`, async () => {
    const stub = await startStubIssuer();
    const server = await start(stub, REQUEST_TIMEOUT_MS);
    try {
      const { passed, sent } = await revokedAfterHangUp({
        stub, url: server.url, path: '/api/me', maxAgeMs: MAX_AGE_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS,
      });
      assert.equal(passed, 0, `${passed} of ${sent} requests with a revoked token reached the handler`);
    } finally {
      await server.close();
      await stub.close();
    }
  });

  test(`${name}: an abandoned unknown-kid refetch does not hold up the next sync`, async () => {
    const stub = await startStubIssuer();
    const server = await start(stub, 3000);
    try {
      const took = await waitBehindAbandonedRefetch({ stub, url: server.url, path: '/api/me', maxAgeMs: MAX_AGE_MS });
      assert.ok(took < 700, `a request waited ${took} ms behind an abandoned refetch`);
    } finally {
      await server.close();
      await stub.close();
    }
  });
}

/** Resolves with the status, or 'no answer' if none came within `ms`. */
const statusWithin = (ms, url, path, token) => Promise.race([
  rawStatus(url, path, token).catch((error) => `error: ${error.message}`),
  new Promise((resolve) => setTimeout(() => resolve('no answer'), ms)),
]);

test('the Hono middleware: a first request cancelled while the verifier is made does not wedge the isolate', async () => {
  const stub = await startStubIssuer();
  // The first snapshot takes long: the first request's client leaves meanwhile.
  stub.delayMs.feed = 800;
  const server = await honoServer(stub, REQUEST_TIMEOUT_MS);
  try {
    const token = await stub.mint();
    await hangUp(server.url, '/api/me', token);
    stub.delayMs.feed = 0;
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await statusWithin(REQUEST_TIMEOUT_MS + 2000, server.url, '/api/me', token));
    assert.ok(!answers.includes('no answer'), `requests after the cancelled one got: ${answers.join(', ')}`);
    assert.equal(answers.at(-1), 200, `the isolate never recovered: ${answers.join(', ')}`);
  } finally {
    await server.close();
    await stub.close();
  }
});
