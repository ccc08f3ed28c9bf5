// The npm package's own test support: tokens minted by jose. The issuer
// process and its calls come from the shared harness (tests/harness).
import * as jose from 'jose';
import { AUD, ISS, nowSecs } from '../../../tests/harness/issuer.js';

export {
  AUD, ISS, ISSUER_BIN, PASSWORD, login, nowSecs, post, sleep, startIssuer,
} from '../../../tests/harness/issuer.js';

/** The issuer of the upstream provider `keys({ upstream: true })` adds. */
export const UPSTREAM_ISS = 'https://idp.bench.example';

/**
 * Key pairs for EdDSA, ES256 and HS256, with a JWKS of their public parts.
 * With `upstream`, also an RS256 key of an upstream provider
 * (`UPSTREAM_ISS`), bound to it, with its rules, as the issuer publishes.
 */
export async function keys({ upstream = false } = {}) {
  const ed = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const es = await jose.generateKeyPair('ES256', { extractable: true });
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const jwks = {
    keys: [
      { ...(await jose.exportJWK(ed.publicKey)), kid: 'ed', alg: 'EdDSA', use: 'sig' },
      { ...(await jose.exportJWK(es.publicKey)), kid: 'es', alg: 'ES256', use: 'sig' },
      { kty: 'oct', k: jose.base64url.encode(secret), kid: 'hs', alg: 'HS256' },
    ],
  };
  const signing = { ed: ed.privateKey, es: es.privateKey, hs: secret };
  if (upstream) {
    const rs = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    jwks.upstream_keys = [{ ...(await jose.exportJWK(rs.publicKey)), kid: 'rs', alg: 'RS256', use: 'sig', iss: UPSTREAM_ISS }];
    jwks.upstreams = [{ iss: UPSTREAM_ISS, audiences: [AUD], algorithms: ['RS256'], token_types: ['at+jwt', 'JWT'], session_claim: 'sid' }];
    signing.rs = rs.privateKey;
  }
  return { jwks, signing };
}

/** A token signed by jose; `claims` and `header` override the defaults (undefined drops one). */
export async function mint(keySet, { kid = 'ed', claims = {}, header = {} } = {}) {
  const alg = { ed: 'EdDSA', es: 'ES256', hs: 'HS256', rs: 'RS256' }[kid] ?? 'EdDSA';
  const key = keySet.signing[kid] ?? keySet.signing.ed;
  const now = nowSecs();
  const body = {
    iss: kid === 'rs' ? UPSTREAM_ISS : ISS, aud: AUD, sub: crypto.randomUUID(), iat: now, exp: now + 300,
    jti: crypto.randomUUID(), sid: crypto.randomUUID(), roles: ['USER'], ...claims,
  };
  for (const [name, value] of Object.entries(body)) if (value === undefined) delete body[name];
  const protectedHeader = { alg, kid, typ: 'at+jwt', ...header };
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(body)))
    .setProtectedHeader(protectedHeader)
    .sign(key);
}
