// The edge for tests, benchmarks and the demo: the built worker
// (edge-verifier/worker/build) in workerd through Miniflare, as `wrangler
// dev` would run it, and a small origin that counts what reaches it.
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';

const build = fileURLToPath(new URL('../../edge-verifier/worker/build/', import.meta.url));

/**
 * Options for `new Miniflare(...)` running the module worker in `dir` (its
 * `index.js` and wasm; the built edge by default) with these vars bound;
 * `extra` adds or overrides options.
 */
export function workerOptions(bindings, extra = {}, dir = build) {
  return {
    modules: true,
    scriptPath: join(dir, 'index.js'),
    modulesRoot: dir,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: '2025-09-01',
    bindings,
    ...extra,
  };
}


/**
 * The worker as wrangler.toml configures it, with these vars on top;
 * `extra` adds Miniflare options (`{ host, port }` for a real listener,
 * whose URL is then `url`).
 */
export async function startEdge(vars, extra = {}) {
  const mf = new Miniflare(workerOptions({
    ISSUER: 'tollgate',
    AUDIENCE: 'tollgate-api',
    PUBLIC_PATHS: '/v1/auth/signup,/v1/auth/login,/v1/auth/refresh,/.well-known/,/v1/revocations,/public/',
    ISSUER_PATHS: '/v1/auth/,/v1/sessions,/v1/users/,/.well-known/,/v1/revocations',
    REVOCATION_MAX_AGE_MS: '200',
    FAIL_AFTER_MS: '1500',
    JWKS_COOLDOWN_MS: '1000',
    ...vars,
  }, extra));
  const url = String(await mf.ready).replace(/\/$/, '');
  /** Sends a request through the edge; resolves with { status, headers, body }. */
  const send = async (path, { token, method = 'GET', headers = {}, body } = {}) => {
    const all = { ...headers };
    if (token) all.authorization = `Bearer ${token}`;
    if (body !== undefined) all['content-type'] = 'application/json';
    const response = await mf.dispatchFetch(`http://edge.test${path}`, {
      method, headers: all, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: response.status, headers: response.headers, body: parsed };
  };
  return { mf, url, send, close: () => mf.dispose() };
}

/** An origin that answers every request with what it received, and counts. */
export async function startOrigin() {
  const seen = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ origin: true, url: req.url, headers: req.headers }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}
