// The package's Workers entry, in workerd (Miniflare): the lean wasm is
// imported as a compiled module, as Workers require, and a token verifies
// there with workerd's WebCrypto; the synchronous Verifier, which needs the
// wasm's own signature code, says it is not available.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { keys, mint } from './support.js';

const pkg = fileURLToPath(new URL('../pkg/', import.meta.url));

const here = fileURLToPath(new URL('../bench/', import.meta.url));

test('the workerd entry loads the lean wasm in workerd and verifies a token through WebCrypto', async () => {
  const keySet = await keys();
  const token = await mint(keySet, { claims: { email: 'edge@example.com' } });
  const es = await mint(keySet, { kid: 'es' });
  const entry = `
    import { Verifier, VerifyError, createLazyVerifier } from './workerd.js';
    import { staticIssuerFetch } from './static-issuer.js';
    const tollgate = createLazyVerifier({
      issuerUrl: 'http://issuer.test', issuer: 'tollgate', audience: 'tollgate-api',
      fetch: staticIssuerFetch(${JSON.stringify(keySet.jwks)}),
    });
    const coded = (error) => Response.json({ code: error instanceof VerifyError ? error.code : String(error) }, { status: 401 });
    export default {
      async fetch(request) {
        const url = new URL(request.url);
        if (url.pathname === '/sync') {
          try {
            new Verifier({ issuer: 'tollgate', audience: 'tollgate-api', jwks: { keys: [] } });
            return new Response('constructed');
          } catch (error) {
            return coded(error);
          }
        }
        try {
          return Response.json(await tollgate.verify(url.searchParams.get('token')));
        } catch (error) {
          return coded(error);
        }
      },
    };`;
  const file = (dir, name) => ({ path: `${pkg}${name}`, contents: readFileSync(`${dir}${name}`) });
  const mf = new Miniflare({
    modules: [
      { type: 'ESModule', path: `${pkg}entry.js`, contents: entry },
      { type: 'ESModule', ...file(here, 'static-issuer.js') },
      { type: 'ESModule', ...file(pkg, 'workerd.js') },
      { type: 'ESModule', ...file(pkg, 'api.js') },
      { type: 'ESModule', ...file(pkg, 'tollgate_verifier_lean.js') },
      { type: 'CompiledWasm', ...file(pkg, 'tollgate_verifier_lean_bg.wasm') },
    ],
    modulesRoot: pkg,
    compatibilityDate: '2025-09-01',
  });
  try {
    const ok = await mf.dispatchFetch(`http://edge.test/?token=${token}`);
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).email, 'edge@example.com');
    const p256 = await mf.dispatchFetch(`http://edge.test/?token=${es}`);
    assert.equal(p256.status, 200, 'ES256 too');
    const bad = await mf.dispatchFetch('http://edge.test/?token=nope');
    assert.deepEqual(await bad.json(), { code: 'malformed' });
    // The signature's first character swapped: still canonical base64url, so only the signature is wrong.
    const dot = token.lastIndexOf('.') + 1;
    const tampered = `${token.slice(0, dot)}${token[dot] === 'A' ? 'B' : 'A'}${token.slice(dot + 1)}`;
    const forged = await mf.dispatchFetch(`http://edge.test/?token=${tampered}`);
    assert.equal(forged.status, 401);
    assert.deepEqual(await forged.json(), { code: 'bad_signature' });
    const sync = await mf.dispatchFetch('http://edge.test/sync');
    assert.deepEqual(await sync.json(), { code: 'not_available' });
  } finally {
    await mf.dispose();
  }
});
