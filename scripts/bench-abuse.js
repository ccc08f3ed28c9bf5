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
import { logouts as timedLogouts, ms, prepare, quantile, root, sessions as makeSessions, startReleaseIssuer } from './bench-logouts.js';

prepare();
const dir = mkdtempSync(join(tmpdir(), 'tollgate-abuse-'));
const { url, issuer, env } = await startReleaseIssuer(dir, {
  TOLLGATE_TOKEN_FAILURES_PER_ADDRESS: process.argv[2] === 'default-limit' ? '60' : '100000000',
});
const sessions = (n) => makeSessions(url, n, 'abuse@example.com');
const logouts = (tokens) => timedLogouts(url, tokens);

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
