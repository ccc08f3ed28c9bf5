// tollgate for Hono: `app.use('/api/*', tollgate({ issuerUrl, audience }))`.
//
// Modelled on Hono's own `jwk()` middleware (token from `Authorization`,
// else an optional cookie; optional anonymous access), plus what it lacks:
// revocation (the issuer's feed, through the verifier crate's sync policy)
// and failing closed (503 `revocation_state_stale` when the revocation
// state cannot be trusted). Refusals are the verifier crate's, the same
// problem+json with the same `WWW-Authenticate` as the edge worker's. The
// verified claims are set on the context: `c.get('tollgate')`.
//
// Hono is a peer dependency: this module imports nothing from it.
import { ERROR_CODES, createLazyVerifier, refusal, requestParts, VerifyError } from 'tollgate-verifier';

/**
 * Whether a client header is one of the edge's: `x-tollgate-*`, with `_`
 * read as `-` (CGI, WSGI, Rack and PHP read `x_tollgate_sub` as the edge's
 * `x-tollgate-sub`).
 */
const isIdentityHeader = (name) => name.toLowerCase().replaceAll('_', '-').startsWith('x-tollgate-');

/** The Response for a refusal with `code`, as the Rust crate renders it. */
function refused(code, detail, dpop) {
  const { status, challenge, body } = refusal(code, detail, { dpop });
  const headers = { 'content-type': 'application/problem+json', 'cache-control': 'no-store' };
  if (challenge) headers['www-authenticate'] = challenge;
  return new Response(body, { status, headers });
}

/** The codes answered as refusals (401, or 503 when stale); anything else is the verifier failing. */
const REFUSALS = new Set([...ERROR_CODES, 'missing_token']);

/** 500: the verifier itself failed (bad options, a bug); says no more than its code. */
function failed(error) {
  const code = error instanceof VerifyError ? error.code : 'internal';
  const body = { type: 'about:blank', title: 'The verifier failed.', status: 500, code };
  return new Response(JSON.stringify(body), { status: 500, headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' } });
}

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
 * One verifier is made per isolate or process, on the first request,
 * without awaiting anything (so a cancelled first request cannot wedge the
 * ones after it); the first requests then wait for its first snapshot, each
 * for as long as the sync policy allows and no longer.
 */
export function tollgate(options) {
  let verifier = null;
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
    const spoofed = [...c.req.raw.headers.keys()].filter(isIdentityHeader);
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
    try {
      verifier ??= createLazyVerifier(verifierOptions);
      c.set('tollgate', await verifier.verifyRequest(parts, { waitUntil }));
    } catch (error) {
      if (error?.code === 'missing_token' && allowAnonymous) return next();
      if (!(error instanceof VerifyError) || !REFUSALS.has(error.code)) return failed(error);
      return refused(error.code, error.message, parts.dpop !== undefined);
    }
    return next();
  };
}
