// tollgate for Hono: `app.use('/api/*', tollgate({ issuerUrl, audience }))`.
//
// Modelled on Hono's own `jwk()` middleware (token from `Authorization`,
// else an optional cookie; optional anonymous access), plus what it lacks:
// revocation (the issuer's feed, through createVerifier's sync policy) and
// failing closed (503 `revocation_state_stale` when the revocation state
// cannot be trusted). Refusals are the same problem+json, with the same
// `WWW-Authenticate`, as the edge worker's. The verified claims are set on
// the context: `c.get('tollgate')`.
//
// Hono is a peer dependency: this module imports nothing from it.
import { challenge, createVerifier, requestParts, VerifyError } from 'tollgate-verifier';

/** The headers the edge owns; a client's own are dropped before your handlers see the request. */
const IDENTITY_PREFIX = 'x-tollgate-';

function problem(status, code, detail, wwwAuthenticate) {
  const headers = { 'content-type': 'application/problem+json', 'cache-control': 'no-store' };
  if (wwwAuthenticate) headers['www-authenticate'] = wwwAuthenticate;
  const title = status === 401 ? 'The token is not valid.' : 'The edge cannot serve this request.';
  return new Response(JSON.stringify({ type: 'about:blank', title, status, code, detail }), { status, headers });
}

/** The answer for a refused token: 401 with its code, or 503 when the revocation state is stale. */
function refusal(error) {
  const code = error?.code ?? 'internal';
  if (code === 'revocation_state_stale') return problem(503, code, error.message);
  if (!(error instanceof VerifyError)) return problem(500, 'internal', 'the verifier failed');
  if (code === 'missing_token') return missing();
  return problem(401, code, error.message, challenge(code));
}

const missing = () => problem(401, 'missing_token', 'A bearer or DPoP token is required.', challenge('missing_token'));

function cookieValue(request, cookieName) {
  if (!cookieName) return undefined;
  for (const pair of (request.headers.get('cookie') ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === cookieName) return pair.slice(at + 1).trim();
  }
  return undefined;
}

/**
 * The middleware. `options` is an object or a function of the context (for
 * Workers, whose settings arrive in `c.env`):
 * - `issuerUrl`, `audience`, `issuer` (default `issuerUrl`), and the other
 *   createVerifier options (`maxAgeMs`, `failAfterMs`, ...);
 * - `cookie`: also read the token from this cookie (none by default);
 * - `allowAnonymous`: let requests without a token through (with no
 *   `tollgate` claims) instead of answering 401 `missing_token`;
 * - `publicUrl`: the origin clients address, when it is not the request's
 *   own (a proxy in front), for DPoP proofs' `htu`.
 *
 * DPoP-bound tokens (RFC 9449) are checked with their proof, each proof
 * usable once per isolate or process; a bound token sent as Bearer is
 * refused with `invalid_dpop_proof`.
 *
 * One verifier is made per isolate or process, on the first request, and
 * kept; if it cannot load a snapshot, that request gets 503 and the next
 * one tries again.
 */
export function tollgate(options) {
  // The verifier, once made; the creation in flight, if any. A request
  // never awaits a creation another request started: workerd does not
  // resume a request from another request's I/O, so it polls instead.
  let verifier = null;
  let creating = null;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  async function getVerifier(verifierOptions) {
    if (verifier) return verifier;
    if (!creating) {
      const attempt = { done: false, error: null };
      creating = attempt;
      try {
        verifier = await createVerifier(verifierOptions);
      } catch (error) {
        attempt.error = error;
        throw error;
      } finally {
        attempt.done = true;
        creating = null;
      }
      return verifier;
    }
    const attempt = creating;
    while (!attempt.done) await sleep(5);
    if (verifier) return verifier;
    throw attempt.error;
  }
  return async function tollgateMiddleware(c, next) {
    const settings = typeof options === 'function' ? options(c) : options;
    const { cookie, allowAnonymous = false, publicUrl, ...verifierOptions } = settings;
    const waitUntil = (() => {
      try {
        const ctx = c.executionCtx;
        return (promise) => ctx.waitUntil(promise);
      } catch {
        return undefined; // not on Workers: nothing to extend
      }
    })();

    // The identity headers are the edge's; never trust a client's.
    const spoofed = [...c.req.raw.headers.keys()].filter((name) => name.startsWith(IDENTITY_PREFIX));
    if (spoofed.length > 0) {
      const headers = new Headers(c.req.raw.headers);
      for (const name of spoofed) headers.delete(name);
      c.req.raw = new Request(c.req.raw, { headers });
    }

    // The token from Authorization (Bearer or DPoP) or, failing that, the
    // named cookie; the verifier crate reads the scheme and the token.
    const parts = requestParts(c.req.raw, { publicUrl });
    const fromCookie = parts.authorization === undefined ? cookieValue(c.req.raw, cookie) : undefined;
    parts.cookie = fromCookie === undefined ? undefined : `access_token=${fromCookie}`;
    const scheme = parts.authorization?.trim().split(/\s+/)[0]?.toLowerCase();
    const hasToken = fromCookie !== undefined || scheme === 'bearer' || scheme === 'dpop';
    if (!hasToken) return allowAnonymous ? next() : missing();
    try {
      const claims = await (await getVerifier(verifierOptions)).verifyRequest(parts, { waitUntil });
      c.set('tollgate', claims);
    } catch (error) {
      return refusal(error);
    }
    return next();
  };
}
