// The issuer for tests and benchmarks: the real binary on port 0 with a
// fresh data directory and cheap Argon2, and the few HTTP calls every
// suite makes of it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../', import.meta.url));
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
