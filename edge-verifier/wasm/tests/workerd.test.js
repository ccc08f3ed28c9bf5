// The package's Workers entry, in workerd (Miniflare): the wasm is imported
// as a compiled module, as Workers require, and a token verifies there.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { keys, mint } from './support.js';

const pkg = fileURLToPath(new URL('../pkg/', import.meta.url));

test('the workerd entry loads in workerd and verifies a token', async () => {
  const keySet = await keys();
  const token = await mint(keySet, { claims: { email: 'edge@example.com' } });
  const entry = `
    import { Verifier, VerifyError } from './workerd.js';
    const verifier = new Verifier({ issuer: 'tollgate', audience: 'tollgate-api', jwks: ${JSON.stringify(keySet.jwks)} });
    export default {
      fetch(request) {
        const token = new URL(request.url).searchParams.get('token');
        try {
          return Response.json(verifier.verify(token));
        } catch (error) {
          return Response.json({ code: error instanceof VerifyError ? error.code : 'not a VerifyError' }, { status: 401 });
        }
      },
    };`;
  const file = (name) => ({ path: `${pkg}${name}`, contents: readFileSync(`${pkg}${name}`) });
  const mf = new Miniflare({
    modules: [
      { type: 'ESModule', path: `${pkg}entry.js`, contents: entry },
      { type: 'ESModule', ...file('workerd.js') },
      { type: 'ESModule', ...file('api.js') },
      { type: 'ESModule', ...file('tollgate_verifier_wasm.js') },
      { type: 'CompiledWasm', ...file('tollgate_verifier_wasm_bg.wasm') },
    ],
    modulesRoot: pkg,
    compatibilityDate: '2025-09-01',
  });
  try {
    const ok = await mf.dispatchFetch(`http://edge.test/?token=${token}`);
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).email, 'edge@example.com');
    const bad = await mf.dispatchFetch('http://edge.test/?token=nope');
    assert.deepEqual(await bad.json(), { code: 'malformed' });
  } finally {
    await mf.dispose();
  }
});
