// The synchronous Verifier: interop with jose both ways, every error code,
// and hostile input. Runs against the built package (edge-verifier/wasm/pkg).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as jose from 'jose';
import { ERROR_CODES, Verifier, VerifyError } from '../pkg/node.js';
import { AUD, ISS, keys, mint, nowSecs } from './support.js';

const keySet = await keys();
const verifier = () => new Verifier({ issuer: ISS, audience: AUD, jwks: keySet.jwks });

/** Asserts that `fn` throws a VerifyError with `code`. */
function throwsCode(fn, code) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof VerifyError, `not a VerifyError: ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

/** Replaces a token's header, keeping payload and signature. */
function withHeader(token, header) {
  const [, payload, signature] = token.split('.');
  return `${jose.base64url.encode(JSON.stringify(header))}.${payload}.${signature}`;
}

test('tokens signed by jose verify, for EdDSA, ES256 and HS256', async () => {
  const v = verifier();
  for (const kid of ['ed', 'es', 'hs']) {
    const sid = crypto.randomUUID();
    const claims = v.verify(await mint(keySet, { kid, claims: { sid, email: 'a@b.co' } }));
    assert.equal(claims.sid, sid);
    assert.equal(claims.iss, ISS);
    assert.deepEqual(claims.roles, ['USER']);
    assert.equal(claims.email, 'a@b.co');
  }
});

test('every error code is reachable from JS, with its code', async () => {
  const v = verifier();
  const good = await mint(keySet);
  const token = {
    unknownKid: await mint(keySet, { header: { kid: 'nope' } }),
    wrongType: await mint(keySet, { header: { typ: 'JWT' } }),
    wrongIssuer: await mint(keySet, { claims: { iss: 'someone-else' } }),
    wrongAudience: await mint(keySet, { claims: { aud: 'other-api' } }),
    notYetValid: await mint(keySet, { claims: { nbf: nowSecs() + 600 } }),
    noSid: await mint(keySet, { claims: { sid: undefined } }),
  };
  const [h, p, s] = good.split('.');
  const flipped = s[0] === 'A' ? `B${s.slice(1)}` : `A${s.slice(1)}`;
  const reached = new Set();
  const check = (fn, code) => {
    throwsCode(fn, code);
    reached.add(code);
  };

  check(() => v.verify('not a token'), 'malformed');
  check(() => v.verify('a'.repeat(9000)), 'token_too_large');
  check(() => v.verify(withHeader(good, { alg: 'HS256', kid: 'ed', typ: 'at+jwt' })), 'unsupported_alg');
  check(() => v.verify(withHeader(good, { alg: 'none', typ: 'at+jwt' })), 'unsupported_alg');
  check(() => v.verify(token.unknownKid), 'unknown_kid');
  check(() => v.verify(`${h}.${p}.${flipped}`), 'bad_signature');
  check(() => v.verify(token.wrongType), 'wrong_type');
  check(() => v.verify(token.wrongIssuer), 'wrong_issuer');
  check(() => v.verify(token.wrongAudience), 'wrong_audience');
  check(() => v.verify(good, nowSecs() + 3600), 'expired');
  check(() => v.verify(token.notYetValid), 'not_yet_valid');
  check(() => v.verify(token.noSid), 'missing_claim');

  const { sid } = v.verify(good);
  v.applyRevocations({ cursor: 'c:1', reset: true, revoked: [{ sid, until: nowSecs() + 600 }] });
  check(() => v.verify(good), 'revoked');
  const bound = await mint(keySet, { claims: { cnf: { jkt: 'a'.repeat(43) } } });
  check(() => v.verifyRequest({ authorization: `Bearer ${bound}`, method: 'GET', url: 'https://api.test/' }), 'invalid_dpop_proof');
  // revocation_state_stale needs a sync policy (issuer.test.js reaches it
  // through createVerifier); use_dpop_nonce comes only from the issuer's
  // token routes (dpop.test.js reaches it there).
  assert.deepEqual(
    ERROR_CODES.filter((code) => !reached.has(code)),
    ['revocation_state_stale', 'use_dpop_nonce'],
  );
});

test('2,000 random strings throw coded errors and leave the instance usable', async () => {
  const v = verifier();
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.=+/ \u00e9\u{1F600}{}":';
  const good = await mint(keySet);
  for (let i = 0; i < 2000; i++) {
    const length = Math.floor(Math.random() * 300);
    let input = '';
    for (let j = 0; j < length; j++) input += alphabet[Math.floor(Math.random() * alphabet.length)];
    // Every fourth is a mangled real token, to get past the first checks.
    if (i % 4 === 0) input = good.slice(0, Math.floor(Math.random() * good.length)) + input;
    assert.throws(() => v.verify(input), (error) => error instanceof VerifyError && ERROR_CODES.includes(error.code));
  }
  assert.equal(v.verify(good).iss, ISS);
});

test('a revocation page applies, prunes, and exposes cursor and count', async () => {
  const v = verifier();
  assert.equal(v.cursor, undefined);
  const token = await mint(keySet);
  const { sid, jti } = v.verify(token);
  v.applyRevocations(JSON.stringify({ cursor: 'e:5', reset: true, revoked: [{ jti, until: nowSecs() + 10 }] }));
  assert.equal(v.cursor, 'e:5');
  assert.equal(v.revokedCount, 1);
  throwsCode(() => v.verify(token), 'revoked');
  assert.equal(v.prune(nowSecs() + 60), 1);
  assert.equal(v.revokedCount, 0);
  assert.equal(v.verify(token).sid, sid);
  throwsCode(() => v.applyRevocations('{"nope":1}'), 'invalid_feed');
  throwsCode(() => v.setKeys('not json'), 'invalid_jwks');
  throwsCode(() => new Verifier({ issuer: ISS }), 'invalid_options');
});

test('tokens the wasm verifier accepts, jose accepts too (and the reverse is above)', async () => {
  // Cross-check one direction more strictly: same claims out of both.
  const token = await mint(keySet, { kid: 'es' });
  const ours = verifier().verify(token);
  const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet(keySet.jwks), {
    issuer: ISS, audience: AUD, typ: 'at+jwt',
  });
  assert.deepEqual(ours, payload);
});

test('a snapshot spread over pages replaces the held set only once its last page arrives', async () => {
  const v = verifier();
  const [old, first, last] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
  const until = nowSecs() + 600;
  const tokens = {
    old: await mint(keySet, { claims: { sid: old } }),
    first: await mint(keySet, { claims: { sid: first } }),
    last: await mint(keySet, { claims: { sid: last } }),
  };
  v.applyRevocations({ cursor: 'a:1', reset: true, revoked: [{ sid: old, until }] });
  // A new snapshot (a restored database), page 1 of 2: the old set serves on.
  v.applyRevocations({ cursor: 'b:1', reset: true, more: true, revoked: [{ sid: first, until }] });
  throwsCode(() => v.verify(tokens.old), 'revoked');
  assert.equal(v.cursor, 'b:1', 'the next page is asked for from the snapshot\'s cursor');
  v.applyRevocations({ cursor: 'b:2', reset: false, more: false, revoked: [{ sid: last, until }] });
  throwsCode(() => v.verify(tokens.first), 'revoked');
  throwsCode(() => v.verify(tokens.last), 'revoked');
  assert.equal(v.verify(tokens.old).sid, old, 'the old set is replaced whole');
  assert.equal(v.revokedCount, 2);
});

test('a leeway past 600 seconds is refused, as every entry point refuses it', () => {
  throwsCode(() => new Verifier({ issuer: ISS, audience: AUD, jwks: keySet.jwks, leewaySecs: 601 }), 'invalid_options');
  throwsCode(() => new Verifier({ issuer: ISS, audience: AUD, jwks: keySet.jwks, leewaySecs: 86400 }), 'invalid_options');
  assert.ok(new Verifier({ issuer: ISS, audience: AUD, jwks: keySet.jwks, leewaySecs: 600 }));
});

test('an unknown option is refused, not ignored', () => {
  throwsCode(() => new Verifier({ issuer: ISS, audience: AUD, jwks: keySet.jwks, leewaySec: 5 }), 'invalid_options');
});
