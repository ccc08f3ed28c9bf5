// A scripted issuer for fault tests: it serves a JWKS and the revocation
// feed the way the real issuer does (snapshot pages, deltas, `more`,
// `keys`), and can be told to misbehave in the ways a real one does under
// failure: answer 500, never answer, or send the headers and then stall the
// body. The real issuer cannot be made to do these on cue, so the tests that
// need them use this; every other test uses the real one.
import { createServer } from 'node:http';
import * as jose from 'jose';

export const ISS = 'tollgate';
export const AUD = 'tollgate-api';

/** Faults a request can meet. */
export const FAULTS = Object.freeze(['500', 'silent', 'stall']);

/**
 * Starts the stub on 127.0.0.1:0. Mutate the returned object to script it:
 * - `entries`: the log, `[{sid|jti, until}]`, in commit order;
 * - `epoch`: change it to make every cursor foreign (a restored database);
 * - `pageSize`: entries per feed page;
 * - `fault`: `null` or `{ kind: '500'|'silent'|'stall', match(url) }`;
 * - `delayMs`: `{ feed, jwks }`, how long a healthy answer takes;
 * - `withdraw(kid)` / `addKey()`: change the JWKS and the `keys` version.
 */
export async function startStubIssuer({ pageSize = 1000 } = {}) {
  const stub = {
    entries: [],
    epoch: 'a',
    pageSize,
    fault: null,
    delayMs: { feed: 0, jwks: 0 },
    keys: [],
    keysVersion: 1,
    requests: { feed: 0, jwks: 0 },
    /** Requests that arrived (counted before any delay; `requests` after it). */
    arrived: { feed: 0, jwks: 0 },
    /** Requests held open by `silent` and `stall`, released by `release()`. */
    held: new Set(),
  };

  stub.addKey = async () => {
    const kid = `k${stub.keys.length + 1}`;
    const { publicKey, privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    stub.keys.push({ kid, privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' } });
    stub.keysVersion += 1;
    return kid;
  };
  stub.withdrawn = [];
  stub.withdraw = (kid) => {
    stub.withdrawn.push(...stub.keys.filter((key) => key.kid === kid));
    stub.keys = stub.keys.filter((key) => key.kid !== kid);
    stub.keysVersion += 1;
  };
  /** A token for session `sid`, signed by key `kid` (default: the newest), with `claims` on top. */
  stub.mint = async ({ sid = crypto.randomUUID(), kid = stub.keys.at(-1).kid, ttl = 300, claims = {} } = {}) => {
    const key = [...stub.keys, ...stub.withdrawn].find((k) => k.kid === kid);
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({ sid, jti: crypto.randomUUID(), roles: ['USER'], ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
      .setIssuer(ISS).setAudience(AUD).setSubject(crypto.randomUUID())
      .setIssuedAt(now).setExpirationTime(now + ttl)
      .sign(key.privateKey);
  };
  /** Revokes `sid` (appends to the log). */
  stub.revoke = (sid) => stub.entries.push({ sid, until: Math.floor(Date.now() / 1000) + 600 });
  /** Ends every held request (with a reset), e.g. after a test. */
  stub.release = () => {
    for (const res of stub.held) res.destroy();
    stub.held.clear();
  };

  const feedPage = (since) => {
    const [epoch, seq] = (since ?? '').split(':');
    const after = epoch === stub.epoch && /^\d+$/.test(seq ?? '') && Number(seq) <= stub.entries.length ? Number(seq) : null;
    const reset = after === null;
    const from = reset ? 0 : after;
    const revoked = stub.entries.slice(from, from + stub.pageSize);
    const next = from + revoked.length;
    return {
      cursor: `${stub.epoch}:${next}`,
      reset,
      more: next < stub.entries.length,
      keys: String(stub.keysVersion),
      revoked,
    };
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://stub');
    const delay = url.pathname === '/v1/revocations' ? stub.delayMs.feed : url.pathname === '/.well-known/jwks.json' ? stub.delayMs.jwks : 0;
    if (url.pathname === '/v1/revocations') stub.arrived.feed += 1;
    if (url.pathname === '/.well-known/jwks.json') stub.arrived.jwks += 1;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const fault = stub.fault?.match(url) ? stub.fault.kind : null;
    if (url.pathname === '/v1/revocations') stub.requests.feed += 1;
    if (url.pathname === '/.well-known/jwks.json') stub.requests.jwks += 1;
    if (fault === 'silent') {
      stub.held.add(res);
      return;
    }
    let body;
    if (url.pathname === '/v1/revocations') body = feedPage(url.searchParams.get('since'));
    else if (url.pathname === '/.well-known/jwks.json') body = { keys: stub.keys.map((k) => k.jwk) };
    else {
      res.writeHead(404).end();
      return;
    }
    if (fault === '500') {
      res.writeHead(500, { 'content-type': 'application/problem+json' });
      res.end('{"code":"internal"}');
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    if (fault === 'stall') {
      // The headers and a little of the body, then nothing.
      res.write(text.slice(0, 10));
      stub.held.add(res);
      return;
    }
    res.end(text);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${server.address().port}`;
  stub.close = () => {
    stub.release();
    server.closeAllConnections?.();
    return new Promise((resolve) => server.close(resolve));
  };
  /** Matches feed requests that continue a snapshot of the current epoch (page 2 onwards). */
  stub.laterPages = (url) => {
    const [epoch, seq] = (url.searchParams.get('since') ?? '').split(':');
    return url.pathname === '/v1/revocations' && epoch === stub.epoch && Number(seq) > 0 && Number(seq) < stub.entries.length;
  };
  await stub.addKey();
  return stub;
}

/** Matches every feed request. */
export const feedRequests = (url) => url.pathname === '/v1/revocations';
