// Unauthenticated paths cannot starve logouts (issue 11), against the
// release issuer on SQLite, load from the same 2 cores:
//   1. logout latency idle, then while 64 wrk connections send refreshes
//      with random tokens (the per-address limit is raised so every one
//      reaches the lookup: the worst case). Goal: p99 under load within 2x
//      the idle p99.
//   2. 200 verifiers cold-starting at once, each following the feed from
//      no cursor through a 10,000-entry snapshot (10 pages of 1,000):
//      pages per second, p50/p99 per page, and how many times the first
//      page was read from the log.
//   node scripts/bench-abuse.js [default-limit]
// With `default-limit` the per-address limit on failed refreshes stays at
// its default (60 per window), so after 60 the flood is answered 429 before
// any lookup: the configuration an attacker meets.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
execFileSync('cargo', ['build', '-q', '--release', '-p', 'tollgate-issuer', '--bins', '--examples'], { cwd: root, stdio: 'inherit' });
try { execFileSync('wrk', ['--version'], { stdio: 'ignore' }); } catch (error) {
  if (error.code === 'ENOENT') execFileSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq wrk'], { stdio: 'inherit' });
}
const dir = mkdtempSync(join(tmpdir(), 'tollgate-abuse-'));
const env = {
  ...process.env,
  TOLLGATE_DATA_DIR: dir, TOLLGATE_BIND: '127.0.0.1:0', DATABASE_URL: '', RUST_LOG: 'error',
  TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT: '1000000', TOLLGATE_LOGIN_LIMIT_PER_ADDRESS: '1000000',
  TOLLGATE_TOKEN_FAILURES_PER_ADDRESS: process.argv[2] === 'default-limit' ? '60' : '100000000',
  TOLLGATE_ARGON2_MEMORY_KIB: '256', TOLLGATE_ARGON2_ITERATIONS: '1', // sessions are set up, not measured
};
const issuer = spawn(join(root, 'target/release/tollgate-issuer'), ['serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve) => createInterface({ input: issuer.stdout }).once('line', (l) => resolve(l.replace('listening on ', '').trim())));

const post = (path, body, token) => fetch(url + path, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  body: body === undefined ? undefined : JSON.stringify(body),
});
const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};
const ms = (x) => `${x.toFixed(1)} ms`;

async function sessions(n) {
  await post('/v1/auth/signup', { email: 'abuse@example.com', password: 'bench password 1', name: 'B' });
  const tokens = [];
  for (let i = 0; i < n; i++) {
    const reply = await post('/v1/auth/login', { email: 'abuse@example.com', password: 'bench password 1', device: { id: `d${i}`, type: 'bench' } });
    tokens.push((await reply.json()).access_token);
  }
  return tokens;
}

/** Logs out each token in turn, 10 ms apart; latencies in ms. */
async function logouts(tokens) {
  const times = [];
  for (const token of tokens) {
    const t = performance.now();
    const reply = await post('/v1/auth/logout', undefined, token);
    times.push(performance.now() - t);
    if (reply.status !== 204) throw new Error(`logout: ${reply.status}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return times;
}

try {
  const tokens = await sessions(400);
  const idle = await logouts(tokens.slice(0, 200));
  const wrk = spawn('wrk', ['-t2', '-c64', '-d60s', '-s', join(root, 'scripts/wrk-garbage-refresh.lua'), url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let wrkOut = '';
  wrk.stdout.on('data', (d) => { wrkOut += d; });
  await new Promise((r) => setTimeout(r, 2000));
  const loaded = await logouts(tokens.slice(200));
  wrk.kill('SIGINT');
  await new Promise((r) => wrk.once('exit', r));
  const garbageRate = (wrkOut.match(/Requests\/sec:\s+([\d.]+)/) ?? [])[1] ?? '?';

  execFileSync(join(root, 'target/release/examples/seed_revocations'), [], { env: { ...env, SEED_COUNT: '10000' } });
  const metric = async (name) => Number((await (await fetch(`${url}/metrics`)).text()).match(new RegExp(`${name} (\\d+)`))[1]);
  const buildsBefore = await metric('tollgate_snapshot_builds_total');
  const pages = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: 200 }, async () => {
    let since = null;
    for (;;) {
      const t = performance.now();
      const text = await (await fetch(`${url}/v1/revocations${since ? `?since=${encodeURIComponent(since)}` : ''}`)).text();
      pages.push(performance.now() - t);
      since = text.match(/"cursor":"([^"]+)"/)[1];
      if (!text.includes('"more":true')) break;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const builds = (await metric('tollgate_snapshot_builds_total')) - buildsBefore;

  console.log(`node ${process.version}, ${new Date().toISOString()}, release issuer on SQLite, failed-refresh limit ${env.TOLLGATE_TOKEN_FAILURES_PER_ADDRESS}`);
  console.log('| logout (n=200) | p50 | p99 | max |');
  console.log('|---|---:|---:|---:|');
  console.log(`| idle | ${ms(quantile(idle, 0.5))} | ${ms(quantile(idle, 0.99))} | ${ms(Math.max(...idle))} |`);
  console.log(`| while 64 connections send garbage refresh tokens (${garbageRate} req/s) | ${ms(quantile(loaded, 0.5))} | ${ms(quantile(loaded, 0.99))} | ${ms(Math.max(...loaded))} |`);
  console.log(`p99 ratio loaded/idle: ${(quantile(loaded, 0.99) / quantile(idle, 0.99)).toFixed(2)}x (goal <= 2x)`);
  console.log(`200 cold starts x 10,000 entries: ${pages.length} pages in ${seconds.toFixed(2)} s = ${(pages.length / seconds).toFixed(0)} pages/s, `
    + `${(200 / seconds).toFixed(0)} snapshots/s; per page p50 ${ms(quantile(pages, 0.5))}, p99 ${ms(quantile(pages, 0.99))}; first page read from the log ${builds} time(s)`);
} finally {
  issuer.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
