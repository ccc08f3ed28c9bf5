// What the flood benchmarks (bench-abuse.js, bench-upstream.js) share: the
// release issuer on SQLite, sessions to log out, logout latencies, and
// quantiles. Each benchmark brings its own flood.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../', import.meta.url));

/** Builds the release issuer (and its examples) and makes sure wrk is there (Debian). */
export function prepare() {
  execFileSync('cargo', ['build', '-q', '--release', '-p', 'tollgate-issuer', '--bins', '--examples'], { cwd: root, stdio: 'inherit' });
  try { execFileSync('wrk', ['--version'], { stdio: 'ignore' }); } catch (error) {
    if (error.code === 'ENOENT') execFileSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq wrk'], { stdio: 'inherit' });
  }
}

/**
 * The release issuer on SQLite in `dir`, with `env` on top of limits that
 * let the sessions be set up quickly (cheap Argon2: sessions are set up,
 * not measured). Resolves with its URL, the process and the environment.
 */
export async function startReleaseIssuer(dir, env = {}) {
  const all = {
    ...process.env,
    TOLLGATE_DATA_DIR: dir, TOLLGATE_BIND: '127.0.0.1:0', DATABASE_URL: '', RUST_LOG: 'error',
    TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT: '1000000', TOLLGATE_LOGIN_LIMIT_PER_ADDRESS: '1000000',
    TOLLGATE_ARGON2_MEMORY_KIB: '256', TOLLGATE_ARGON2_ITERATIONS: '1',
    ...env,
  };
  const issuer = spawn(join(root, 'target/release/tollgate-issuer'), ['serve'], { env: all, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve) => createInterface({ input: issuer.stdout }).once('line', (l) => resolve(l.replace('listening on ', '').trim())));
  return { url, issuer, env: all };
}

/** POSTs JSON to the issuer, with a Bearer token if given. */
export const post = (url, path, body, token) => fetch(url + path, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  body: body === undefined ? undefined : JSON.stringify(body),
});

/** `n` device sessions of one user; their access tokens. */
export async function sessions(url, n, email = 'bench@example.com') {
  await post(url, '/v1/auth/signup', { email, password: 'bench password 1', name: 'B' });
  const tokens = [];
  for (let i = 0; i < n; i++) {
    const reply = await post(url, '/v1/auth/login', { email, password: 'bench password 1', device: { id: `d${i}`, type: 'bench' } });
    tokens.push((await reply.json()).access_token);
  }
  return tokens;
}

/** Logs out each token in turn, 10 ms apart; latencies in ms. */
export async function logouts(url, tokens) {
  const times = [];
  for (const token of tokens) {
    const t = performance.now();
    const reply = await post(url, '/v1/auth/logout', undefined, token);
    times.push(performance.now() - t);
    if (reply.status !== 204) throw new Error(`logout: ${reply.status}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return times;
}

export const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};

export const ms = (x) => `${x.toFixed(1)} ms`;
