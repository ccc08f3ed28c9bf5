// The client's address, behind the edge, without trusting the client: on
// Cloudflare (CLIENT_IP_HEADER = CF-Connecting-IP, as wrangler.toml sets
// it) the edge passes that header (which Cloudflare sets and a client
// cannot; here the test sets it as Cloudflare would) to the issuer as
// x-tollgate-client-ip, with the shared EDGE_SECRET as proof. A client
// rotating X-Forwarded-For or sending its own x-tollgate-* headers (even
// with the right secret) is still one client. Without CLIENT_IP_HEADER (a
// self-hosted workerd, where a client could write CF-Connecting-IP itself)
// the edge vouches for no address.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEdge, startOrigin } from '../harness/edge.js';
import { startIssuer } from '../harness/issuer.js';

const SECRET = 'a-long-shared-edge-secret-for-tests';
const LIMIT = 5;
let issuer;
let origin;
let edge;

before(async () => {
  issuer = await startIssuer({
    TOLLGATE_EDGE_SECRET: SECRET,
    TOLLGATE_LOGIN_LIMIT_PER_ADDRESS: String(LIMIT),
    TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT: '1000',
  });
  origin = await startOrigin();
  edge = await startEdge({ ISSUER_URL: issuer.url, ORIGIN_URL: origin.url, EDGE_SECRET: SECRET, CLIENT_IP_HEADER: 'CF-Connecting-IP' });
});
after(async () => {
  await edge.close();
  await origin.close();
  await issuer.cleanup();
});

let n = 0;
/** A wrong-password login through the edge from `ip`, with whatever extra headers the client adds. */
const guess = (ip, headers = {}, through = edge) => through.send('/v1/auth/login', {
  method: 'POST',
  headers: { 'cf-connecting-ip': ip, ...headers },
  body: { email: `guess${n++}@example.com`, password: 'not the password', device: { id: 'd', type: 'browser' } },
});

test('a client rotating X-Forwarded-For and x-tollgate-* headers is still limited; another address is not', async () => {
  for (let i = 0; i < LIMIT; i++) {
    const reply = await guess('203.0.113.7', {
      'x-forwarded-for': `10.0.0.${i}`,
      'x-tollgate-client-ip': `192.0.2.${i}`,
      'x-tollgate-edge-secret': i % 2 ? SECRET : 'a guess',
    });
    assert.equal(reply.status, 401, JSON.stringify(reply.body));
  }
  const limited = await guess('203.0.113.7', {
    'x-forwarded-for': '10.0.0.99', 'x-tollgate-client-ip': '192.0.2.99', 'x-tollgate-edge-secret': SECRET,
  });
  assert.equal(limited.status, 429, JSON.stringify(limited.body));
  assert.equal(limited.body.code, 'rate_limited');

  const other = await guess('198.51.100.9');
  assert.equal(other.status, 401, 'a second client has its own limit');
});

test('straight to the issuer, x-tollgate-client-ip without the secret counts as the peer address', async () => {
  const post = (headers) => fetch(`${issuer.url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email: `direct${n++}@example.com`, password: 'not the password', device: { id: 'd', type: 'x' } }),
  });
  const statuses = [];
  for (let i = 0; i <= LIMIT; i++) {
    statuses.push((await post({ 'x-tollgate-client-ip': `192.0.2.${i}`, 'x-tollgate-edge-secret': 'wrong' })).status);
  }
  assert.deepEqual(statuses, [...Array(LIMIT).fill(401), 429], 'all counted as 127.0.0.1');
});

test('on a self-hosted edge (no CLIENT_IP_HEADER) a client writing CF-Connecting-IP is still one client', async () => {
  const own = await startIssuer({
    TOLLGATE_EDGE_SECRET: SECRET,
    TOLLGATE_LOGIN_LIMIT_PER_ADDRESS: String(LIMIT),
    TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT: '1000',
  });
  const selfHosted = await startEdge({ ISSUER_URL: own.url, ORIGIN_URL: origin.url, EDGE_SECRET: SECRET });
  try {
    const statuses = [];
    for (let i = 0; i <= LIMIT; i++) statuses.push((await guess(`198.18.0.${i}`, {}, selfHosted)).status);
    assert.deepEqual(statuses, [...Array(LIMIT).fill(401), 429], 'every rotated address counted as the edge\'s own');
  } finally {
    await selfHosted.close();
    await own.cleanup();
  }
});
