// createVerifier's signature checks as workerd and browsers run them: every
// algorithm through WebCrypto. In Node the package's entry hands only ES256
// to WebCrypto, so these tests rebind it with all three, then make WebCrypto
// fail the ways a platform can: an algorithm it does not have (an older
// browser without Ed25519: the wasm takes over), and a verify that throws
// (refused, never accepted). Then the same with the lean build the browser
// and Workers entries load, which has no wasm signature checks to fall
// back on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, test } from 'node:test';
import { bind } from '../pkg/api.js';
import { Verifier, VerifyError, createVerifier } from '../pkg/node.js';
import * as wasm from '../pkg/tollgate_verifier_wasm.js';
import * as lean from '../pkg/tollgate_verifier_lean.js';
import * as web from '../pkg/tollgate_verifier_web.js';
import { staticIssuerFetch } from '../bench/static-issuer.js';
import { AUD, ISS, keys, mint } from './support.js';

const ALL = ['EdDSA', 'ES256', 'HS256'];
const subtle = crypto.subtle;
const { importKey, verify } = subtle;

afterEach(() => {
  subtle.importKey = importKey;
  subtle.verify = verify;
});

const leanBytes = readFileSync(new URL('../pkg/tollgate_verifier_lean_bg.wasm', import.meta.url));
lean.initSync({ module: leanBytes });
const webBytes = readFileSync(new URL('../pkg/tollgate_verifier_web_bg.wasm', import.meta.url));
web.initSync({ module: webBytes });
/** The two builds without curve code: workerd's (`lean`) and the browsers' (`web`, the same code built for size). */
const LEAN_BUILDS = [['lean', lean, leanBytes], ['web', web, webBytes]];

/** A createVerifier in front of a static issuer serving `keySet`, with `native` algorithms on WebCrypto. */
async function verifierFor(keySet, native, build = wasm) {
  bind(build, native);
  return createVerifier({
    issuerUrl: 'http://issuer.test', issuer: ISS, audience: AUD, fetch: staticIssuerFetch(keySet.jwks),
  });
}

/** WebCrypto without Ed25519, as an older browser: importKey refuses it with NotSupportedError. */
function withoutEd25519() {
  subtle.importKey = function noEd25519(format, key, algorithm, ...rest) {
    if (algorithm?.name === 'Ed25519') {
      return Promise.reject(new DOMException('Ed25519 is not supported', 'NotSupportedError'));
    }
    return importKey.call(subtle, format, key, algorithm, ...rest);
  };
}

/** The token with its signature's first character changed (still canonical base64url). */
function tampered(token) {
  const dot = token.lastIndexOf('.') + 1;
  const swapped = token[dot] === 'A' ? 'B' : 'A';
  return `${token.slice(0, dot)}${swapped}${token.slice(dot + 1)}`;
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof VerifyError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  });
}

test('with every algorithm on WebCrypto, good tokens verify and bad signatures are refused', async () => {
  const keySet = await keys();
  const tollgate = await verifierFor(keySet, ALL);
  let verifies = 0;
  subtle.verify = function countingVerify(...args) {
    verifies += 1;
    return verify.apply(subtle, args);
  };
  for (const kid of ['ed', 'es', 'hs']) {
    const token = await mint(keySet, { kid });
    assert.equal((await tollgate.verify(token)).iss, ISS, kid);
    await rejectsWith(tollgate.verify(tampered(await mint(keySet, { kid }))), 'bad_signature');
  }
  assert.equal(verifies, 6, 'every signature went to WebCrypto');
});

test('a platform without Ed25519 in WebCrypto: EdDSA falls back to the wasm, still strict', async () => {
  const keySet = await keys();
  const tollgate = await verifierFor(keySet, ALL);
  withoutEd25519();
  assert.equal((await tollgate.verify(await mint(keySet, { kid: 'ed' }))).iss, ISS);
  await rejectsWith(tollgate.verify(tampered(await mint(keySet, { kid: 'ed' }))), 'bad_signature');
  assert.equal((await tollgate.verify(await mint(keySet, { kid: 'es' }))).iss, ISS, 'ES256 still on WebCrypto');
});

test('a WebCrypto verify that throws refuses the token', async () => {
  const keySet = await keys();
  const tollgate = await verifierFor(keySet, ALL);
  subtle.verify = () => Promise.reject(new DOMException('boom', 'OperationError'));
  for (const kid of ['ed', 'es', 'hs']) {
    await rejectsWith(tollgate.verify(await mint(keySet, { kid })), 'bad_signature');
  }
  subtle.verify = verify;
  assert.equal((await tollgate.verify(await mint(keySet, { kid: 'ed' }))).iss, ISS, 'and recovers');
});

for (const [name, build, bytes] of LEAN_BUILDS) {
  test(`${name}: the build carries no signature code and no synchronous Verifier`, () => {
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name);
    const full = WebAssembly.Module.exports(new WebAssembly.Module(
      readFileSync(new URL('../pkg/tollgate_verifier_wasm_bg.wasm', import.meta.url)),
    )).map((e) => e.name);
    assert.ok(full.includes('attempt_verifyHere') && full.includes('verifier_new'), 'the full build has both');
    assert.ok(!exports.includes('attempt_verifyHere'), 'no wasm signature check');
    assert.ok(!exports.some((name) => name.startsWith('verifier_')), 'no synchronous Verifier');
    bind(build, ALL);
    assert.throws(() => new Verifier({ issuer: ISS, audience: AUD, jwks: { keys: [] } }), (error) => {
      assert.ok(error instanceof VerifyError);
      assert.equal(error.code, 'not_available', error.message);
      return true;
    });
  });

  test(`${name}: every algorithm through WebCrypto, bad signatures refused`, async () => {
    const keySet = await keys();
    const tollgate = await verifierFor(keySet, ALL, build);
    for (const kid of ['ed', 'es', 'hs']) {
      assert.equal((await tollgate.verify(await mint(keySet, { kid }))).iss, ISS, kid);
      await rejectsWith(tollgate.verify(tampered(await mint(keySet, { kid }))), 'bad_signature');
    }
  });

  test(`${name}: a platform without Ed25519 in WebCrypto refuses EdDSA with unsupported_alg, never accepts`, async () => {
    const keySet = await keys();
    const tollgate = await verifierFor(keySet, ALL, build);
    withoutEd25519();
    await rejectsWith(tollgate.verify(await mint(keySet, { kid: 'ed' })), 'unsupported_alg');
    assert.equal((await tollgate.verify(await mint(keySet, { kid: 'es' }))).iss, ISS, 'ES256 still on WebCrypto');
  });

  test(`${name}: no WebCrypto at all (a page that is not a secure context) refuses, never accepts`, async () => {
    const keySet = await keys();
    const tollgate = await verifierFor(keySet, [], build);
    await rejectsWith(tollgate.verify(await mint(keySet, { kid: 'es' })), 'unsupported_alg');
    await rejectsWith(tollgate.verify(await mint(keySet, { kid: 'ed' })), 'unsupported_alg');
  });
}

test('a replaced global Promise (a polyfill, zone.js) cannot turn a pending WebCrypto check into a pass', async () => {
  const keySet = await keys();
  for (const build of [wasm, lean, web]) {
    const tollgate = await verifierFor(keySet, ALL, build);
    const good = await mint(keySet, { kid: 'es' });
    const forged = tampered(await mint(keySet, { kid: 'es' }));
    const NativePromise = globalThis.Promise;
    globalThis.Promise = class PolyfilledPromise extends NativePromise {};
    try {
      await rejectsWith(tollgate.verify(forged), 'bad_signature');
      assert.equal((await tollgate.verify(good)).iss, ISS);
    } finally {
      globalThis.Promise = NativePromise;
    }
  }
});

for (const [name, build] of LEAN_BUILDS) {
  test(`${name}: one key WebCrypto will not import refuses that attempt only, not the algorithm for good`, async () => {
    const keySet = await keys();
    const tollgate = await verifierFor(keySet, ALL, build);
    withoutEd25519();
    await rejectsWith(tollgate.verify(await mint(keySet, { kid: 'ed' })), 'unsupported_alg');
    subtle.importKey = importKey;
    assert.equal((await tollgate.verify(await mint(keySet, { kid: 'ed' }))).iss, ISS, 'EdDSA is still on WebCrypto');
  });

  test(`${name}: without crypto.subtle an upstream RS256 token is unsupported_alg, not bad_signature; peekKid works`, async () => {
    const keySet = await keys({ upstream: true });
    bind(build, ALL);
    const token = await mint(keySet, { kid: 'rs' });
    assert.equal(Verifier.peekKid(token), 'rs');
    Object.defineProperty(globalThis.crypto, 'subtle', { value: undefined, configurable: true });
    try {
      const tollgate = await verifierFor(keySet, ALL, build);
      await rejectsWith(tollgate.verify(token), 'unsupported_alg');
    } finally {
      delete globalThis.crypto.subtle;
    }
    assert.ok(globalThis.crypto.subtle, 'restored');
  });
}

test('two wasm instances bound in turn never lend each other imported keys', async () => {
  // Fresh instances (a module imported under another URL is another
  // instance), so each numbers its keys from the same start: a key of one
  // must never stand in for the key of the other that has its number.
  const instance = async (tag) => {
    const glue = await import(`../pkg/tollgate_verifier_lean.js?${tag}`);
    glue.initSync({ module: leanBytes });
    return glue;
  };
  const [first, second] = [await instance('first'), await instance('second')];
  const [keysA, keysB] = [await keys(), await keys()];
  const a = await verifierFor(keysA, ALL, first);
  assert.equal((await a.verify(await mint(keysA, { kid: 'ed' }))).iss, ISS, 'A imports its key');
  const b = await verifierFor(keysB, ALL, second);
  // Signed by A's key under the kid B knows for its own key.
  await rejectsWith(b.verify(await mint(keysA, { kid: 'ed' })), 'bad_signature');
  assert.equal((await b.verify(await mint(keysB, { kid: 'ed' }))).iss, ISS, 'B verifies its own');
  await rejectsWith(a.verify(await mint(keysB, { kid: 'ed' })), 'bad_signature');
  assert.equal((await a.verify(await mint(keysA, { kid: 'ed' }))).iss, ISS, 'A still verifies its own');
});

test("a flood of DPoP proofs, each with its own client key, never evicts the key set's imported keys", async () => {
  const { generateDpopKey } = await import('../pkg/dpop-client.js');
  const keySet = await keys();
  const v = await verifierFor(keySet, ALL);
  let issuerImports = 0;
  subtle.importKey = function counted(format, jwk, ...rest) {
    if (jwk?.crv === 'Ed25519') issuerImports += 1;
    return importKey.call(subtle, format, jwk, ...rest);
  };
  const url = 'https://api.example.com/api/todos';
  const token = await mint(keySet, { kid: 'ed' });
  await v.verify(token);
  // More client keys than the import cache holds (1024): an unbound token
  // sent with the DPoP scheme is refused, after its proof's key is imported.
  for (let i = 0; i < 1100; i += 1) {
    const client = await generateDpopKey();
    const dpop = await client.proof({ method: 'GET', url, accessToken: token });
    await rejectsWith(v.verifyRequest({ authorization: `DPoP ${token}`, dpop, method: 'GET', url }), 'invalid_dpop_proof');
  }
  assert.equal((await v.verify(await mint(keySet, { kid: 'ed' }))).iss, ISS);
  assert.equal(issuerImports, 1, 'the issuer key was imported again after the flood');
});

test('a verifier keeps the build and algorithms it was made with when another build is bound later', async () => {
  const keySet = await keys();
  const leanVerifier = await verifierFor(keySet, ALL, lean);
  // The Node build bound after it, with only ES256 on WebCrypto: the lean
  // verifier has no wasm signature checks and must stay on WebCrypto.
  bind(wasm, ['ES256']);
  assert.equal((await leanVerifier.verify(await mint(keySet, { kid: 'ed' }))).iss, ISS);
  await rejectsWith(leanVerifier.verify(tampered(await mint(keySet, { kid: 'ed' }))), 'bad_signature');
});
