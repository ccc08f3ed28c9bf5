// Upstream providers' RSA tokens in the npm package: RS256 and PS256 are
// checked by WebCrypto (the wasm has no RSA), each key pinned to its one
// algorithm. One RSA key published for both (as two kids) verifies both:
// a CryptoKey imported for one algorithm is not reused for the other.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as jose from 'jose';
import { createVerifier } from '../pkg/node.js';
import { staticIssuerFetch } from '../bench/static-issuer.js';
import { AUD, ISS, UPSTREAM_ISS, keys, mint } from './support.js';

test('RS256 and PS256 of one RSA key both verify, and stay pinned', async () => {
  const keySet = await keys({ upstream: true });
  const rs = keySet.jwks.upstream_keys.find((k) => k.kid === 'rs');
  keySet.jwks.upstream_keys.push({ ...rs, kid: 'ps', alg: 'PS256' });
  keySet.jwks.upstreams[0].algorithms = ['RS256', 'PS256'];
  const verifier = await createVerifier({
    issuerUrl: 'http://issuer.test', issuer: ISS, audience: AUD, fetch: staticIssuerFetch(keySet.jwks),
  });
  try {
    const rsToken = await mint(keySet, { kid: 'rs' });
    assert.equal((await verifier.verify(rsToken)).iss, UPSTREAM_ISS);
    const now = Math.floor(Date.now() / 1000);
    // The same private key, imported for PS256 (a CryptoKey serves one algorithm).
    const psKey = await jose.importJWK(await jose.exportJWK(keySet.signing.rs), 'PS256');
    const psToken = await new jose.SignJWT({ sid: 's', jti: 'j' })
      .setProtectedHeader({ alg: 'PS256', kid: 'ps', typ: 'at+jwt' })
      .setIssuer(UPSTREAM_ISS).setSubject('u').setAudience(AUD).setIssuedAt(now).setExpirationTime(now + 300)
      .sign(psKey);
    assert.equal((await verifier.verify(psToken)).sub, 'u');
    // PS256 under the RS256 kid: the key is pinned to RS256.
    const switched = await new jose.SignJWT({ sid: 's' })
      .setProtectedHeader({ alg: 'PS256', kid: 'rs', typ: 'at+jwt' })
      .setIssuer(UPSTREAM_ISS).setSubject('u').setAudience(AUD).setIssuedAt(now).setExpirationTime(now + 300)
      .sign(psKey);
    await assert.rejects(verifier.verify(switched), (error) => error.code === 'unsupported_alg');
  } finally {
    verifier.close();
  }
});
