// The edge in workerd, listening on a real socket, and clients that hang
// up while the sync their request started is in flight. workerd cancels a
// request whose client went away; the sync it started must still complete
// (a fetch whose requester left is not evidence that the issuer is down),
// and nobody may wait on a fetch nobody drives.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEdge, startOrigin } from '../../../tests/harness/edge.js';
import { revokedAfterHangUp, waitBehindAbandonedRefetch } from '../../../tests/harness/hangup.js';
import { startStubIssuer } from '../../../tests/harness/stub-issuer.js';

const MAX_AGE_MS = 200;
const REQUEST_TIMEOUT_MS = 1000;

let origin;
before(async () => {
  origin = await startOrigin();
});
after(async () => origin.close());

async function setup(vars = {}) {
  const stub = await startStubIssuer();
  const edge = await startEdge({
    ISSUER_URL: stub.url,
    ORIGIN_URL: origin.url,
    REVOCATION_MAX_AGE_MS: String(MAX_AGE_MS),
    FAIL_AFTER_MS: '30000',
    REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    JWKS_COOLDOWN_MS: '10000',
    ...vars,
  }, { host: '127.0.0.1', port: 0 });
  return { stub, edge, close: async () => { await edge.close(); await stub.close(); } };
}

test('a client that hangs up mid-sync lets no revoked token through the edge', async () => {
  const { stub, edge, close } = await setup();
  try {
    const { passed, sent } = await revokedAfterHangUp({
      stub, url: edge.url, path: '/api/todos', maxAgeMs: MAX_AGE_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    assert.equal(passed, 0, `${passed} of ${sent} requests with a revoked token reached the origin`);
  } finally {
    await close();
  }
});

test('an abandoned unknown-kid refetch does not hold up the next sync at the edge', async () => {
  const { stub, edge, close } = await setup({ REQUEST_TIMEOUT_MS: '3000' });
  try {
    const took = await waitBehindAbandonedRefetch({ stub, url: edge.url, path: '/api/todos', maxAgeMs: MAX_AGE_MS });
    assert.ok(took < 700, `a request waited ${took} ms behind an abandoned refetch`);
  } finally {
    await close();
  }
});
