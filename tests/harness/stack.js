// The whole system locally: the issuer, the to-do origin (which also serves
// the demo page), and the edge worker in workerd (Miniflare), wired as
// demo topology (docs/ARCHITECTURE.md). `make demo` (web-demo/stack.js), the browser
// tests and the benchmarks start it from here. Everything must already be
// built (the Makefile does it).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { workerOptions } from './edge.js';
import { AUDIENCE, CLIENT_ID, UPSTREAM, reserveIdp, upstreamToml } from './idp.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (name) => join(root, 'target/debug', name);
export const DEMO_EMAIL = 'demo@example.com';
export const DEMO_PASSWORD = 'tollgate demo password';

/** A TCP port nobody listens on now. */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs `command`, resolving with the URL it prints as "listening on ...". */
function serve(command, env) {
  const child = spawn(command, [], { env: { ...process.env, RUST_LOG: 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => resolve(line.replace('listening on ', '').trim()));
  });
  return { child, url };
}

/** The page's files, with the npm package and FingerprintJS beside it. */
function assemblePage(dir) {
  const page = join(dir, 'www/demo');
  mkdirSync(join(page, 'vendor'), { recursive: true });
  cpSync(join(root, 'web-demo/page'), page, { recursive: true });
  cpSync(join(root, 'edge-verifier/wasm/pkg'), join(page, 'vendor/tollgate-verifier'), { recursive: true });
  cpSync(join(root, 'node_modules/@fingerprintjs/fingerprintjs/dist/fp.esm.js'), join(page, 'vendor/fp.esm.js'));
  return join(dir, 'www');
}

/** Resolves once the issuer's JWKS holds a key of the upstream `iss` (it fetches them on its own). */
async function upstreamKeysPublished(issuerUrl, iss, deadlineMs = 15000) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const jwks = await fetch(`${issuerUrl}/.well-known/jwks.json`).then((r) => r.json()).catch(() => null);
    if ((jwks?.upstream_keys ?? []).some((key) => key.iss === iss)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the issuer did not publish ${iss}'s keys within ${deadlineMs} ms`);
}

/**
 * Starts issuer, origin and edge. `ports` fixes the edge, issuer and origin
 * ports (0 picks free ones). With `idp`, also a local OpenID provider
 * (oidc-provider, on `idpPort`) the issuer trusts as an upstream, whose
 * back-channel logouts go to the issuer; `upstreams` adds `[[upstream]]`
 * tables of other providers. Resolves with their URLs and `stop()`.
 */
export async function startStack({ edgePort = 0, issuerPort = 0, originPort = 0, idpPort = 0, dir, maxAgeMs = 1000, issuerEnv: extraIssuerEnv = {}, idp: withIdp = false, idpKeys, upstreams = '' } = {}) {
  const base = dir ?? mkdtempSync(join(tmpdir(), 'tollgate-demo-'));
  mkdirSync(join(base, 'issuer'), { recursive: true, mode: 0o700 });
  // The issuer and the origin must know the edge's URL up front: DPoP
  // proofs name the URL the browser addressed, which is the edge's.
  const port = edgePort || await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const issuerEnv = {
    TOLLGATE_BIND: `127.0.0.1:${issuerPort}`,
    TOLLGATE_DATA_DIR: join(base, 'issuer'),
    TOLLGATE_PUBLIC_URL: publicUrl,
    DATABASE_URL: '',
    ...extraIssuerEnv,
  };
  const idp = withIdp ? await reserveIdp({ port: idpPort }) : null;
  if (idp || upstreams) {
    const file = join(base, 'upstreams.toml');
    writeFileSync(file, `${idp ? upstreamToml(idp.url) : ''}\n${upstreams}`);
    issuerEnv.TOLLGATE_UPSTREAMS = file;
  }
  // The demo user; "email is taken" on a second run is fine.
  spawnSync(bin('tollgate-issuer'), ['user', 'add', '--email', DEMO_EMAIL, '--name', 'Demo User'], {
    env: { ...process.env, ...issuerEnv, RUST_LOG: 'error' }, input: `${DEMO_PASSWORD}\n`,
  });
  // Whatever started is stopped again if a later step fails, so a failed
  // start leaves no process behind to hold the test runner open.
  const children = [];
  let edge = null;
  const stop = async () => {
    try {
      await edge?.dispose();
    } catch {
      // workerd is gone already (a Ctrl-C reaches the whole process group)
    }
    for (const child of children.reverse()) {
      // A child killed by a signal has a signalCode and no exitCode: it is
      // gone too, and its 'exit' has fired already.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
    await idp?.close();
    if (!dir) rmSync(base, { recursive: true, force: true });
  };
  try {
    const issuer = serve(bin('tollgate-issuer'), issuerEnv);
    children.push(issuer.child);
    const issuerUrl = await issuer.url;
    if (idp) {
      await idp.configure({
        backchannelLogoutUri: `${issuerUrl}/v1/upstreams/${UPSTREAM}/backchannel-logout`,
        redirectUris: [`${publicUrl}/demo/`, `${idp.url}/cb`],
        postLogoutRedirectUris: [`${publicUrl}/demo/`],
        keys: idpKeys,
      });
      await upstreamKeysPublished(issuerUrl, idp.url);
    }
    const www = assemblePage(base);
    // What the page needs to offer "Log in with Example IdP".
    writeFileSync(join(www, 'demo/config.json'), JSON.stringify(idp ? { idp: { url: idp.url, clientId: CLIENT_ID, resource: `urn:${AUDIENCE}` } } : {}));
    const origin = serve(bin('tollgate-demo-origin'), {
      ORIGIN_BIND: `127.0.0.1:${originPort}`,
      ORIGIN_DB: join(base, 'origin.db'),
      ISSUER_URL: issuerUrl,
      STATIC_DIR: www,
      PUBLIC_URL: publicUrl,
    });
    children.push(origin.child);
    const originUrl = await origin.url;
    edge = new Miniflare(workerOptions({
      ISSUER_URL: issuerUrl,
      ORIGIN_URL: originUrl,
      ISSUER: 'tollgate',
      AUDIENCE: 'tollgate-api',
      PUBLIC_PATHS: '/v1/auth/signup,/v1/auth/login,/v1/auth/refresh,/.well-known/,/v1/revocations,/demo/,/favicon.ico',
      ISSUER_PATHS: '/v1/auth/,/v1/sessions,/v1/users/,/.well-known/,/v1/revocations',
      REVOCATION_MAX_AGE_MS: String(maxAgeMs),
    }, { host: '127.0.0.1', port }));
    const edgeUrl = String(await edge.ready).replace(/\/$/, '');
    return { edgeUrl, issuerUrl, originUrl, issuerEnv, idp, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
