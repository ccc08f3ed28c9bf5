// A real upstream identity provider for tests and the demo: panva's
// `oidc-provider` (certified OpenID provider), with JWT access tokens for
// the tollgate API, Back-Channel Logout to the tollgate issuer, and its
// development login pages. Plus a login and a logout driven over HTTP
// with a cookie jar, as a browser would, for tests without one.
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/** The client tollgate is at the provider: the demo page, a public PKCE client. */
export const CLIENT_ID = 'tollgate-demo';
/** The API its access tokens are for (the tollgate audience). */
export const AUDIENCE = 'tollgate-api';
/** The name the tollgate issuer knows the provider by. */
export const UPSTREAM = 'example-idp';

/** An RSA signing key as a private JWK, with its `kid`. */
export async function rsaKey(kid) {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

/**
 * Listens on a free port first, so the provider's issuer URL (its address)
 * is known before the tollgate issuer, which needs it, starts. Call
 * `configure({ backchannelLogoutUri, redirectUris, keys })` once that is
 * up; until then every request is answered 503.
 */
export async function reserveIdp({ port = 0 } = {}) {
  let handler = (req, res) => {
    res.writeHead(503);
    res.end();
  };
  const server = createServer((req, res) => handler(req, res));
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  let provider = null;
  const events = [];

  async function configure({ backchannelLogoutUri, redirectUris = [`${url}/cb`], postLogoutRedirectUris = [], keys }) {
    const jwks = { keys: keys ?? [await rsaKey('idp-1')] };
    provider = new Provider(url, {
      clients: [{
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'none',
        application_type: 'web',
        redirect_uris: redirectUris,
        post_logout_redirect_uris: postLogoutRedirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        backchannel_logout_uri: backchannelLogoutUri,
        backchannel_logout_session_required: true,
      }],
      jwks,
      cookies: { keys: [randomBytes(16).toString('hex')] },
      features: {
        devInteractions: { enabled: true },
        backchannelLogout: { enabled: true },
        revocation: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => `urn:${AUDIENCE}`,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            audience: AUDIENCE,
            scope: 'openid todo',
            accessTokenFormat: 'jwt',
            accessTokenTTL: 300,
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      // The session goes into the access token, as Keycloak does: the
      // same `sid` its logout tokens carry.
      formats: {
        customizers: {
          jwt(ctx, token, jwt) {
            if (token.sid) jwt.payload.sid = token.sid;
          },
        },
      },
      clientBasedCORS: () => true,
      pkce: { required: () => true },
      // Its SSRF guard refuses loopback targets; the tollgate issuer is one.
      fetch: (target, { dispatcher, ...options }) => globalThis.fetch(target, options),
    });
    provider.on('backchannel.success', (ctx, client, accountId, sid) => events.push({ ok: true, accountId, sid, at: Date.now() }));
    provider.on('backchannel.error', (ctx, error, client, accountId, sid) => events.push({ ok: false, error: String(error?.message ?? error), accountId, sid, at: Date.now() }));
    handler = provider.callback();
    return provider;
  }

  const close = () => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(resolve);
  });
  return { url, configure, close, events, get provider() { return provider; } };
}

/** A cookie jar for one user agent: names to values, all sent everywhere. */
class Jar {
  constructor() {
    this.cookies = new Map();
  }

  take(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

async function step(jar, url, init = {}) {
  const response = await fetch(url, {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers ?? {}), cookie: jar.header() },
  });
  jar.take(response);
  return response;
}

/** Follows redirects by hand (keeping cookies) until one leaves the provider or is not a redirect. */
async function follow(jar, base, response, stopAt) {
  let hops = 0;
  while (response.status >= 300 && response.status < 400) {
    const next = new URL(response.headers.get('location'), base).href;
    if (next.startsWith(stopAt)) return next;
    if (++hops > 10) throw new Error('too many redirects');
    response = await step(jar, next);
  }
  return response;
}

/**
 * Logs `account` in through the provider's own authorization-code flow
 * (with PKCE), as a browser would: its login and consent pages, then the
 * token endpoint. Resolves with the tokens and the session's cookie jar.
 */
export async function loginAt(idpUrl, account, { redirectUri = `${idpUrl}/cb` } = {}) {
  const jar = new Jar();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const auth = new URL('/auth', idpUrl);
  auth.search = new URLSearchParams({
    client_id: CLIENT_ID, response_type: 'code', scope: 'openid todo', redirect_uri: redirectUri,
    code_challenge: challenge, code_challenge_method: 'S256', state: randomBytes(8).toString('hex'),
  });
  let landed = await follow(jar, idpUrl, await step(jar, auth.href), redirectUri);
  for (const prompt of ['login', 'consent']) {
    if (typeof landed === 'string') break;
    const uid = new URL(landed.url).pathname.split('/').pop();
    const form = prompt === 'login' ? { prompt, login: account, password: 'any' } : { prompt };
    const submitted = await step(jar, `${idpUrl}/interaction/${uid}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
    landed = await follow(jar, idpUrl, submitted, redirectUri);
  }
  if (typeof landed !== 'string') throw new Error(`login did not come back: ${landed.status} ${await landed.text()}`);
  const code = new URL(landed).searchParams.get('code');
  const tokenResponse = await fetch(`${idpUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: CLIENT_ID,
      code_verifier: verifier, resource: `urn:${AUDIENCE}`,
    }),
  });
  const tokens = await tokenResponse.json();
  if (!tokenResponse.ok) throw new Error(`token endpoint: ${JSON.stringify(tokens)}`);
  return { ...tokens, jar };
}

/**
 * Logs the session of `jar` out at the provider (RP-initiated logout: its
 * end-session page, confirmed), which sends its back-channel logout
 * before it answers. Resolves once it has.
 */
export async function logoutAt(idpUrl, { jar }) {
  const page = await step(jar, `${idpUrl}/session/end?client_id=${CLIENT_ID}`);
  const html = await page.text();
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  if (!xsrf) throw new Error(`no logout form: ${page.status} ${html.slice(0, 200)}`);
  const confirmed = await step(jar, `${idpUrl}/session/end/confirm`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, logout: 'yes' }),
  });
  if (confirmed.status >= 400) throw new Error(`logout: ${confirmed.status} ${await confirmed.text()}`);
}

/** The `[[upstream]]` entry that makes the tollgate issuer trust this provider. */
export function upstreamToml(idpUrl, extra = '') {
  return `[[upstream]]
name = "${UPSTREAM}"
issuer = "${idpUrl}"
audiences = ["${AUDIENCE}"]
client_id = "${CLIENT_ID}"
roles_claim = "scope"
max_token_lifetime_secs = 300
refresh_secs = 1
${extra}`;
}
