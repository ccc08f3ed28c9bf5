// The edge at scale, locally: N edge isolates of one data center in front of
// the real issuer, which sits behind a proxy that adds a round trip.
//
// - N isolates: one Miniflare (one workerd process) running N copies of the
//   built worker, each its own isolate with its own state. They share
//   Miniflare's Cache API storage, as the isolates of one Cloudflare data
//   center share `caches.default`; that is what stands for a data center.
// - A pass-through worker in the same Miniflare forwards to the origin
//   without verifying: the edge's latency is compared with it, not with a
//   direct Node fetch (the Node-to-workerd hop alone costs ~3-4 ms).
// - Steady load: 200 requests/s in total, spread round-robin over the
//   isolates, each with the token of a random live session; another 50/s
//   with the same tokens go through the pass-through worker.
// - Logouts stream in (LOGOUTS/s, straight at the issuer): after each 204,
//   the logged-out token is sent every 20 ms, to the isolates in turn, until
//   one refuses it: logout -> edge 401.
// - The origin counts every request whose session was logged out more than
//   the hard bound before it arrived (none may), and the issuer's /metrics
//   count its feed requests.
//
// Two designs run in the same process, one after the other, for each N:
// "current" is the sync policy as it was (no refresh ahead, every isolate
// pulls the issuer itself: REVOCATION_REFRESH_AHEAD_MS = max age,
// SHARED_FEED=off); "new" refreshes ahead at 100 ms and shares the feed
// through the data-center cache.
//
// With `processes`, each of the N isolates is a Miniflare of its own (its
// own workerd process), all persisting the Cache API to one directory, and
// only the shipped design ("new") runs: whether the shared copy still
// works when the isolates are not threads of one process.
//   node edge-verifier/worker/bench/scale.js [N,...=1,8,32] [seconds=20] [rtt ms=50] [isolates|processes] [logouts/s=10] [requests/s=200]
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { workerOptions } from '../../../tests/harness/edge.js';
import { PASSWORD, post, sleep, startIssuer } from '../../../tests/harness/issuer.js';

const MAX_AGE_MS = 1000;
const FAIL_AFTER_MS = 30000;

/** A proxy to `target` that delays each request and each response by half of `rttMs`. */
export async function startDelayProxy(target, rttMs) {
  const half = rttMs / 2;
  const server = createServer((req, res) => {
    if (process.env.SCALE_TRACE) console.error(`TRACE ${Date.now()} ${req.url}`);
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => setTimeout(() => {
      const upstream = httpRequest(`${target}${req.url}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (up) => {
        const body = [];
        up.on('data', (c) => body.push(c));
        up.on('end', () => setTimeout(() => {
          res.writeHead(up.statusCode, up.headers);
          res.end(Buffer.concat(body));
        }, half));
      });
      upstream.on('error', () => { res.writeHead(502); res.end(); });
      upstream.end(Buffer.concat(chunks));
    }, half));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

/** An origin that answers 200 and remembers, per session, when it last saw one. */
export async function startCountingOrigin() {
  const logoutAt = new Map(); // sid -> ms of the logout's 204
  const late = []; // requests that reached the origin past the hard bound after their logout
  let seen = 0;
  let fiveHundreds = 0;
  const server = createServer((req, res) => {
    seen += 1;
    const sid = req.headers['x-tollgate-sid'];
    const at = logoutAt.get(sid);
    if (at !== undefined && Date.now() - at > MAX_AGE_MS) late.push({ sid, ms: Date.now() - at });
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    logoutAt, late, counts: () => ({ seen, fiveHundreds }),
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

const quantile = (values, q) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};

async function feedPolls(issuerUrl) {
  const text = await (await fetch(`${issuerUrl}/metrics`)).text();
  return [...text.matchAll(/tollgate_feed_polls_total\{kind="\w+"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

/**
 * One run: `n` isolates, `design` 'current' or 'new', for `seconds` of load.
 * Resolves with the measurements; `issuer` is a started issuer, reused.
 */
export async function runScale({ issuer, n, design, seconds, rttMs = 50, rate = 200, logoutsPerSecond = 10, sessions, processes = false }) {
  const proxy = await startDelayProxy(issuer.url, rttMs);
  const origin = await startCountingOrigin();
  const vars = {
    ISSUER_URL: proxy.url,
    ORIGIN_URL: origin.url,
    ISSUER: 'tollgate',
    AUDIENCE: 'tollgate-api',
    PUBLIC_PATHS: '/v1/auth/login',
    ISSUER_PATHS: '/v1/auth/',
    REVOCATION_MAX_AGE_MS: String(MAX_AGE_MS),
    FAIL_AFTER_MS: String(FAIL_AFTER_MS),
    REVOCATION_REFRESH_AHEAD_MS: design === 'new' ? '100' : String(MAX_AGE_MS),
    SHARED_FEED: design === 'new' ? 'on' : 'off',
  };
  const base = workerOptions(vars);
  const passWorker = {
    name: 'pass',
    modules: true,
    compatibilityDate: base.compatibilityDate,
    bindings: { ORIGIN_URL: origin.url },
    script: 'export default { fetch(r, env) { const u = new URL(r.url); return fetch(env.ORIGIN_URL + u.pathname + u.search, { headers: r.headers }); } }',
  };
  // One workerd process for all, or one each sharing a persisted cache.
  const cacheDir = processes ? mkdtempSync(join(tmpdir(), 'tollgate-scale-cache-')) : null;
  // Started one after the other: many workerd processes opening one
  // persisted cache at once fail to start.
  const instances = [];
  const start = async (options) => {
    const mf = new Miniflare(options);
    instances.push(mf);
    await mf.ready;
  };
  if (processes) {
    for (let i = 0; i < n; i++) await start({ workers: [{ ...base, name: `edge${i}` }], cachePersist: cacheDir });
    await start({ workers: [passWorker] });
  } else {
    await start({ workers: [...Array.from({ length: n }, (_, i) => ({ ...base, name: `edge${i}` })), passWorker] });
  }
  const edges = await Promise.all(Array.from({ length: n }, (_, i) => instances[processes ? i : 0].getWorker(`edge${i}`)));
  const pass = await instances[instances.length - 1].getWorker('pass');
  const send = async (worker, token) => {
    const started = performance.now();
    const response = await worker.fetch('http://edge.test/api/x', { headers: { authorization: `Bearer ${token}` } });
    const body = await response.text();
    return { status: response.status, body, ms: performance.now() - started };
  };

  const live = [...sessions];
  const edgeMs = [];
  const passMs = [];
  const delays = [];
  let fiveHundreds = 0;
  let next = 0;
  // Warm every isolate (cold start: snapshot + JWKS) before measuring.
  await Promise.all(edges.map((edge) => send(edge, live[0].access_token)));
  const pollsBefore = await feedPolls(issuer.url);
  const started = performance.now();
  const end = started + seconds * 1000;
  const inflight = new Set();
  const track = (promise) => { inflight.add(promise); promise.finally(() => inflight.delete(promise)); };

  const load = (async () => {
    const interval = 1000 / rate;
    for (let k = 0; performance.now() < end; k++) {
      const due = started + k * interval;
      if (due > performance.now()) await sleep(due - performance.now());
      const session = live[Math.floor(Math.random() * live.length)];
      const edge = edges[next++ % n];
      track(send(edge, session.access_token).then((r) => {
        if (r.status >= 500) fiveHundreds += 1;
        if (r.status === 200) edgeMs.push(r.ms);
      }));
      if (k % 4 === 0) track(send(pass, session.access_token).then((r) => passMs.push(r.ms)));
    }
  })();

  const logouts = (async () => {
    const interval = 1000 / logoutsPerSecond;
    for (let k = 0; performance.now() < end - 1500; k++) {
      const due = started + k * interval;
      if (due > performance.now()) await sleep(due - performance.now());
      const session = live.splice(Math.floor(Math.random() * live.length), 1)[0];
      if (!session) break;
      track((async () => {
        const { status } = await post(`${issuer.url}/v1/auth/logout`, null, session.access_token);
        if (status !== 204) throw new Error(`logout ${status}`);
        const at = performance.now();
        origin.logoutAt.set(session.session_id, Date.now());
        for (let probe = 0; ; probe++) {
          const reply = await send(edges[probe % n], session.access_token);
          if (reply.status >= 500) fiveHundreds += 1;
          if (reply.status === 401) {
            delays.push(performance.now() - at);
            return;
          }
          await sleep(20);
        }
      })());
    }
  })();

  await Promise.all([load, logouts]);
  await Promise.all([...inflight]);
  const elapsed = (performance.now() - started) / 1000;
  const polls = await feedPolls(issuer.url) - pollsBefore;
  await Promise.all(instances.map((mf) => mf.dispose()));
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  await proxy.close();
  await origin.close();
  return {
    n, design: processes ? `${design}, ${n} process${n === 1 ? '' : 'es'}` : design, seconds: elapsed,
    logouts: delays.length,
    logoutP50: quantile(delays, 0.5), logoutP99: quantile(delays, 0.99), logoutMax: Math.max(...delays),
    edgeP50: quantile(edgeMs, 0.5), edgeP99: quantile(edgeMs, 0.99),
    passP50: quantile(passMs, 0.5), passP99: quantile(passMs, 0.99),
    feedPerSecond: polls / elapsed,
    lateAtOrigin: origin.late.length,
    fiveHundreds,
    requests: edgeMs.length,
  };
}

/** Logs `count` sessions in (for the load and the logouts to use up). */
export async function sessionsFor(issuerUrl, count) {
  const email = 'scale@example.com';
  await post(`${issuerUrl}/v1/auth/signup`, { email, password: PASSWORD, name: 'Scale' });
  const sessions = [];
  for (let i = 0; i < count; i++) {
    const { status, body } = await post(`${issuerUrl}/v1/auth/login`, { email, password: PASSWORD, device: { id: `dev${i}`, type: 'bench' } });
    if (status !== 200) throw new Error(`login ${status}`);
    sessions.push(body);
  }
  return sessions;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const ns = (process.argv[2] ?? '1,8,32').split(',').map(Number);
  const seconds = Number(process.argv[3] ?? 20);
  const rttMs = Number(process.argv[4] ?? 50);
  const processes = process.argv[5] === 'processes';
  const logoutsPerSecond = Number(process.argv[6] ?? 10);
  const rate = Number(process.argv[7] ?? 200);
  const issuer = await startIssuer({ TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT: '1000000', TOLLGATE_LOGIN_LIMIT_PER_ADDRESS: '1000000' });
  const ms = (x) => (Number.isNaN(x) ? '-' : `${x.toFixed(0)} ms`);
  const rows = [];
  try {
    for (const n of ns) {
      for (const design of processes ? ['new'] : ['current', 'new']) {
        const sessions = await sessionsFor(issuer.url, 300 + seconds * 12);
        const r = await runScale({ issuer, n, design, seconds, rttMs, sessions, processes, logoutsPerSecond, rate });
        rows.push(r);
        console.error(JSON.stringify(r));
      }
    }
  } finally {
    await issuer.cleanup();
  }
  console.log(`node ${process.version}, ${new Date().toISOString()}, issuer RTT ${rttMs} ms, ${seconds} s per run, ${rate} req/s, ${logoutsPerSecond} logouts/s, max age ${MAX_AGE_MS} ms, ${processes ? 'one workerd process per isolate' : 'N isolates in one workerd process'}`);
  console.log('| N | design | logout→401 p50 | p99 | max | edge p50 / p99 | pass-through p50 / p99 | overhead p99 | issuer feed req/s | late at origin | 5xx |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.n} | ${r.design} | ${ms(r.logoutP50)} | ${ms(r.logoutP99)} | ${ms(r.logoutMax)} | ${r.edgeP50.toFixed(1)} / ${r.edgeP99.toFixed(1)} ms | ${r.passP50.toFixed(1)} / ${r.passP99.toFixed(1)} ms | ${(r.edgeP99 - r.passP99).toFixed(1)} ms | ${r.feedPerSecond.toFixed(1)} | ${r.lateAtOrigin} | ${r.fiveHundreds} |`);
  }
}
