// The edge's path and header rules against crafted requests, sent byte for
// byte over a real socket to the built worker in workerd, with a counting
// origin behind it. The rules (docs/edge.md): a request is judged on its
// normalized path (dot segments resolved, slashes merged); a path with an
// encoded `/` or `\`, or `;` inside a segment, is refused with 400; public
// prefixes match on segment boundaries; the normalized path is what the
// origin receives; and no client header whose name, with `_` read as `-`,
// starts with `x-tollgate-` reaches the origin.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEdge, startOrigin } from '../harness/edge.js';
import { rawRequest } from '../harness/raw.js';
import { startStubIssuer } from '../harness/stub-issuer.js';

let stub;
let origin;
let edge;

before(async () => {
  stub = await startStubIssuer();
  origin = await startOrigin();
  edge = await startEdge({
    ISSUER_URL: stub.url,
    ORIGIN_URL: origin.url,
    PUBLIC_PATHS: '/demo/,/healthz',
    ISSUER_PATHS: '/v1/auth/,/.well-known/,/v1/revocations',
  }, { host: '127.0.0.1', port: 0 });
});
after(async () => {
  await edge.close();
  await origin.close();
  await stub.close();
});

/** Paths that an origin could serve as /api/todos, sent without a token. */
const TRICKS = [
  '/demo/../api/todos',
  '/demo/./../api/todos',
  '/demo/%2e%2e/api/todos',
  '/demo/%2E%2E/api/todos',
  '/demo/..%2Fapi/todos',
  '/demo/..%2fapi/todos',
  '/demo/%2E%2E%2Fapi%2Ftodos',
  '/demo/..%5Capi/todos',
  '/demo/..%5capi/todos',
  '/demo/..\\api/todos',
  '/demo/..;/api/todos',
  '/demo;/../api/todos',
  '/healthz%2F..%2Fapi%2Ftodos',
  '/healthz/../api/todos',
  '/healthz;x/../api/todos',
  '//demo/../api/todos',
  '/demo//../api/todos',
  '/healthzX',
  '/healthz.json',
  '/demo',
];

test('no crafted path reaches the origin as a protected one without a token', async () => {
  const seen = origin.seen.length;
  const answers = [];
  for (const path of TRICKS) {
    const reply = await rawRequest(edge.url, { path });
    answers.push(`${path} -> ${reply.status}`);
    // Refused, or forwarded to where the edge's own rules say it is public.
    if (reply.status !== 200) {
      assert.ok([400, 401].includes(reply.status), `${path} answered ${reply.status}`);
      assert.equal(reply.headers['content-type'], 'application/problem+json', path);
    }
  }
  const forwarded = origin.seen.slice(seen).map((r) => r.url);
  for (const url of forwarded) {
    assert.ok(url.startsWith('/demo/') || url === '/healthz' || url.startsWith('/healthz/'), `the origin was sent ${url}\n${answers.join('\n')}`);
    // And only in a spelling no origin can read as another path.
    assert.doesNotMatch(url, /%2f|%5c|%2e|;|\\|\/\.\.?(\/|$)|\/\//i, `the origin was sent ${url}`);
  }
});

test('encoded slashes and backslashes, and ; inside a segment, are refused with 400 before any rule', async () => {
  for (const path of [
    '/demo/..%2Fapi/todos', '/demo/a%5Cb', '/demo/..;/api/todos', '/api/todos;jsessionid=1', '/demo/x%2fy',
    // Doubly encoded: an origin that decodes twice reads `..` and `/`.
    '/demo/%252e%252e/api/todos', '/demo/..%252Fapi/todos',
    // Assembled by normalizing (found by the path fuzz target): `%25` `%32` `F` is `%252F`.
    '/demo/..%25%32F..%25%32Fapi/todos', '/demo/a%25%35Cb',
    // Found by a review: an origin that decodes and splits again on ? or #,
    // and a lax UTF-8 decoder (overlong . and /).
    '/demo/..%3Fq=1', '/demo/..%23x', '/demo/..%253Fq=1', '/demo/%C0%AE%C0%AE/api/todos', '/demo/..%C0%AF..%C0%AFapi/todos',
    // Segments Windows reads as `..` (it trims trailing dots and spaces),
    // and look-alikes an origin folds to `/`, `\` or `.` (NFKC, best-fit).
    '/demo/..%20/api/todos', '/demo/.../api/todos', '/demo/..%20%20./api/todos',
    '/demo/%EF%BC%8F..%EF%BC%8Fapi/todos', '/demo/..%EF%BC%BCapi/todos', '/demo/%EF%BC%8E%EF%BC%8E/api/todos',
    '/demo/%E2%80%A5/api/todos', '/demo/..%E2%88%95api/todos',
    // Found by a second review: a doubly encoded space, a folded space, a best-fit yen.
    '/demo/..%2520/api/todos', '/demo/..%E3%80%80/api/todos', '/demo/..%C2%A5api/todos',
  ]) {
    const reply = await rawRequest(edge.url, { path });
    assert.equal(reply.status, 400, path);
    assert.equal(reply.body.code, 'invalid_path', path);
  }
});

test('public prefixes match on segment boundaries; the normalized path is what the origin receives', async () => {
  const forwarded = async (path) => {
    const seen = origin.seen.length;
    const reply = await rawRequest(edge.url, { path });
    assert.equal(reply.status, 200, `${path}: ${JSON.stringify(reply.body)}`);
    assert.equal(origin.seen.length, seen + 1, path);
    return origin.seen.at(-1).url;
  };
  assert.equal(await forwarded('/healthz'), '/healthz');
  assert.equal(await forwarded('/healthz/'), '/healthz/');
  assert.equal(await forwarded('/healthz/deep'), '/healthz/deep');
  assert.equal(await forwarded('/demo/'), '/demo/');
  assert.equal(await forwarded('/demo/./app.js'), '/demo/app.js');
  assert.equal(await forwarded('//demo//app.js'), '/demo/app.js');
  assert.equal(await forwarded('/api/../demo/app.js?x=1'), '/demo/app.js?x=1');
  // Percent-encoded unreserved characters are the characters (RFC 3986 §6.2.2.2).
  assert.equal(await forwarded('/demo/%61pp.js'), '/demo/app.js');
  // A fragment ends the URL: a `?` after it starts no query.
  assert.equal(await forwarded('/demo/app.js#part?x=1'), '/demo/app.js');
  assert.equal(await forwarded('/demo/app.js?x=1#part?y=2'), '/demo/app.js?x=1');
  for (const path of ['/healthzX', '/demoX/app.js', '/demo']) {
    assert.equal((await rawRequest(edge.url, { path })).status, 401, path);
  }
});

test('client headers that read as x-tollgate-* with _ for - never reach the origin', async () => {
  const spoofs = {
    x_tollgate_sub: 'victim',
    x_tollgate_roles: 'ADMIN',
    'X_Tollgate-Sid': 'f00',
    'x-tollgate_client_ip': '203.0.113.9',
    'X-TOLLGATE-ISS': 'evil',
  };
  // On a public path, and with a valid token on a protected one.
  const token = await stub.mint();
  for (const request of [
    { path: '/demo/app.js', headers: spoofs },
    { path: '/api/todos', headers: { ...spoofs, authorization: `Bearer ${token}` } },
  ]) {
    const seen = origin.seen.length;
    const reply = await rawRequest(edge.url, request);
    assert.equal(reply.status, 200, `${request.path}: ${JSON.stringify(reply.body)}`);
    assert.equal(origin.seen.length, seen + 1);
    const headers = origin.seen.at(-1).headers;
    const leaked = Object.keys(headers).filter((name) => name.replaceAll('_', '-').startsWith('x-tollgate-'));
    const expected = request.path === '/api/todos' ? ['x-tollgate-iss', 'x-tollgate-sub', 'x-tollgate-sid', 'x-tollgate-roles'] : [];
    for (const name of leaked) assert.ok(expected.includes(name), `${name}: ${headers[name]} reached the origin on ${request.path}`);
    if (request.path === '/api/todos') {
      assert.notEqual(headers['x-tollgate-sub'], 'victim');
      assert.equal(headers['x-tollgate-iss'], 'tollgate', 'the token\'s issuer, not the client\'s');
    }
  }
});

test('headers that make an origin serve another path never reach it', async () => {
  const rewrites = {
    'X-Original-URL': '/api/todos',
    'X-Rewrite-URL': '/api/todos',
    x_original_url: '/api/todos',
    'X-Forwarded-Prefix': '/api',
    'X-Envoy-Original-Path': '/api/todos',
  };
  const seen = origin.seen.length;
  const reply = await rawRequest(edge.url, { path: '/healthz', headers: rewrites });
  assert.equal(reply.status, 200);
  assert.equal(origin.seen.length, seen + 1);
  const headers = origin.seen.at(-1).headers;
  for (const name of Object.keys(rewrites)) {
    assert.equal(headers[name.toLowerCase()], undefined, `${name} reached the origin`);
  }
});
