// An upstream endpoint flood cannot delay a local logout (issue 19),
// against the release issuer on SQLite, load from the same 2 cores, as
// scripts/bench-abuse.js does for the refresh route:
//   logout latency idle, then while 64 wrk connections post back-channel
//   logout tokens that carry the provider's kid and a signature by another
//   key (each costs a full RS256 check before its refusal). Goal: logout
//   p99 under the flood within 2x the idle p99. Also: how many forged
//   tokens were refused per second, and that none revoked anything.
//   node scripts/bench-upstream.js [default-limit]
// Without `default-limit` the per-address limit on refused announcements
// is raised so every forgery reaches the signature check (the worst case:
// a flood from many addresses); with it, the default (60 per window), so
// after 60 the flood is answered 429 before any check.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { logouts as timedLogouts, ms, prepare, quantile, root, sessions as makeSessions, startReleaseIssuer } from './bench-logouts.js';

prepare();
// The provider: discovery and a JWKS with one RS256 key.
const provider = await generateKeyPair('RS256', { modulusLength: 2048 });
const attacker = await generateKeyPair('RS256', { modulusLength: 2048 });
const jwk = { ...(await exportJWK(provider.publicKey)), kid: 'p1', alg: 'RS256', use: 'sig' };
const idp = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(req.url === '/jwks' ? { keys: [jwk] } : { issuer: idpUrl, jwks_uri: `${idpUrl}/jwks` }));
});
await new Promise((resolve) => idp.listen(0, '127.0.0.1', resolve));
const idpUrl = `http://127.0.0.1:${idp.address().port}`;

const dir = mkdtempSync(join(tmpdir(), 'tollgate-upstream-bench-'));
writeFileSync(join(dir, 'upstreams.toml'), `[[upstream]]
name = "bench-idp"
issuer = "${idpUrl}"
audiences = ["tollgate-api"]
client_id = "tollgate"
`);
const { url, issuer, env } = await startReleaseIssuer(join(dir, 'data'), {
  TOLLGATE_UPSTREAMS: join(dir, 'upstreams.toml'),
  TOLLGATE_TOKEN_FAILURES_PER_ADDRESS: process.argv[2] === 'default-limit' ? '60' : '100000000',
});
const sessions = (n) => makeSessions(url, n, 'up@example.com');
const logouts = (tokens) => timedLogouts(url, tokens);

try {
  // Wait until the issuer has the provider's key (a forged token must get as far as the signature).
  for (let i = 0; i < 100; i++) {
    const jwks = await (await fetch(`${url}/.well-known/jwks.json`)).json();
    if ((jwks.upstream_keys ?? []).some((key) => key.iss === idpUrl)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const forged = await new SignJWT({ sid: 'victim-session', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
    .setProtectedHeader({ alg: 'RS256', kid: 'p1', typ: 'logout+jwt' })
    .setIssuer(idpUrl).setAudience('tollgate').setSubject('victim').setIssuedAt().setExpirationTime('10m').setJti('forged')
    .sign(attacker.privateKey);
  const check = await fetch(`${url}/v1/upstreams/bench-idp/backchannel-logout`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${forged}`,
  });
  const refusal = await check.json();
  if (check.status !== 400 || !refusal.error_description.startsWith('bad_signature')) throw new Error(`forged token not refused as expected: ${JSON.stringify(refusal)}`);
  const statuses = (out) => (out.match(/Non-2xx or 3xx responses: (\d+)/) ?? [])[1] ?? '0';

  const tokens = await sessions(400);
  const idle = await logouts(tokens.slice(0, 200));
  const entriesBefore = (await (await fetch(`${url}/v1/revocations`)).json()).revoked.length;
  const wrk = spawn('wrk', ['-t2', '-c64', '-d60s', '-s', join(root, 'scripts/wrk-forged-logout.lua'), url], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORGED_LOGOUT_TOKEN: forged },
  });
  let wrkOut = '';
  wrk.stdout.on('data', (d) => { wrkOut += d; });
  await new Promise((r) => setTimeout(r, 2000));
  const loaded = await logouts(tokens.slice(200));
  wrk.kill('SIGINT');
  await new Promise((r) => wrk.once('exit', r));
  const floodRate = (wrkOut.match(/Requests\/sec:\s+([\d.]+)/) ?? [])[1] ?? '?';
  const feed = (await (await fetch(`${url}/v1/revocations`)).json()).revoked;
  const upstreamEntries = feed.filter((entry) => entry.iss).length;
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const refused = metrics.match(/tollgate_upstream_events_total\{[^}]*result="refused"[^}]*\} (\d+)/)?.[1] ?? '0';

  console.log(`node ${process.version}, ${new Date().toISOString()}, release issuer on SQLite, one RS256 upstream, refused-announcement limit ${env.TOLLGATE_TOKEN_FAILURES_PER_ADDRESS}`);
  console.log('| logout (n=200) | p50 | p99 | max |');
  console.log('|---|---:|---:|---:|');
  console.log(`| idle | ${ms(quantile(idle, 0.5))} | ${ms(quantile(idle, 0.99))} | ${ms(Math.max(...idle))} |`);
  console.log(`| while 64 connections post forged logout tokens (${floodRate} req/s answered) | ${ms(quantile(loaded, 0.5))} | ${ms(quantile(loaded, 0.99))} | ${ms(Math.max(...loaded))} |`);
  console.log(`p99 ratio loaded/idle: ${(quantile(loaded, 0.99) / quantile(idle, 0.99)).toFixed(2)}x (goal <= 2x)`);
  console.log(`forged tokens judged and refused: ${refused} (the rest answered 429 by the per-address limit); non-2xx answers: ${statuses(wrkOut)}; upstream entries on the feed: ${upstreamEntries}; local entries: ${entriesBefore} idle, ${feed.length - upstreamEntries} after`);
} finally {
  issuer.kill('SIGTERM');
  idp.close();
  rmSync(dir, { recursive: true, force: true });
}
