// Test support: a real issuer process on port 0, and tokens minted by jose.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

const root = fileURLToPath(new URL('../../../', import.meta.url));
/** The issuer binary `make` built (debug unless TOLLGATE_ISSUER_BIN says otherwise). */
export const ISSUER_BIN = process.env.TOLLGATE_ISSUER_BIN ?? join(root, 'target/debug/tollgate-issuer');
export const PASSWORD = 'correct horse battery';
export const ISS = 'tollgate';
export const AUD = 'tollgate-api';

/** Runs the issuer with `args`, a fresh data dir and cheap Argon2; resolves with its URL. */
export async function startIssuer(env = {}, dataDir = mkdtempSync(join(tmpdir(), 'tollgate-issuer-'))) {
  const child = spawn(ISSUER_BIN, ['serve'], {
    env: {
      ...process.env,
      TOLLGATE_BIND: '127.0.0.1:0',
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_ARGON2_MEMORY_KIB: '256',
      TOLLGATE_ARGON2_ITERATIONS: '1',
      RUST_LOG: 'warn',
      DATABASE_URL: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`issuer exited with ${code}`)));
    lines.once('line', (line) => resolve(line.replace('listening on ', '').trim()));
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  return { url, dataDir, child, stop, cleanup: async () => { await stop(); rmSync(dataDir, { recursive: true, force: true }); } };
}

/** POSTs JSON; resolves with { status, body }. */
export async function post(url, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: body ? JSON.stringify(body) : undefined });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Signs up `email` (once) and logs in from `device`; resolves with the token response. */
export async function login(issuerUrl, email, device = 'node') {
  await post(`${issuerUrl}/v1/auth/signup`, { email, password: PASSWORD, name: 'Test' });
  const { status, body } = await post(`${issuerUrl}/v1/auth/login`, {
    email, password: PASSWORD, device: { id: device, type: 'node' },
  });
  if (status !== 200) throw new Error(`login failed: ${status} ${JSON.stringify(body)}`);
  return body;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const nowSecs = () => Math.floor(Date.now() / 1000);

/** Key pairs for EdDSA, ES256 and HS256, with a JWKS of their public parts. */
export async function keys() {
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
  return { jwks, signing: { ed: ed.privateKey, es: es.privateKey, hs: secret } };
}

/** A token signed by jose; `claims` and `header` override the defaults (undefined drops one). */
export async function mint(keySet, { kid = 'ed', claims = {}, header = {} } = {}) {
  const alg = { ed: 'EdDSA', es: 'ES256', hs: 'HS256' }[kid] ?? 'EdDSA';
  const key = keySet.signing[kid] ?? keySet.signing.ed;
  const now = nowSecs();
  const body = {
    iss: ISS, aud: AUD, sub: crypto.randomUUID(), iat: now, exp: now + 300,
    jti: crypto.randomUUID(), sid: crypto.randomUUID(), roles: ['USER'], ...claims,
  };
  for (const [name, value] of Object.entries(body)) if (value === undefined) delete body[name];
  const protectedHeader = { alg, kid, typ: 'at+jwt', ...header };
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(body)))
    .setProtectedHeader(protectedHeader)
    .sign(key);
}
