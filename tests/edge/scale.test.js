// A short, small version of bench/scale.js, with correctness assertions
// only (no timing): 4 isolates sharing one data-center cache in front of
// the real issuer behind a 20 ms round trip, steady load, logouts streaming
// in. Every logged-out token must be refused by the edge, none may reach
// the origin after the hard bound (counted at the origin), and nothing may
// answer 5xx. The numbers are bench/scale.js's business.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startIssuer } from '../harness/issuer.js';
import { runScale, sessionsFor } from '../../edge-verifier/worker/bench/scale.js';

let issuer;
before(async () => {
  issuer = await startIssuer({ TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT: '1000000', TOLLGATE_LOGIN_LIMIT_PER_ADDRESS: '1000000' });
});
after(async () => issuer.cleanup());

for (const design of ['current', 'new']) {
  test(`4 isolates (${design} design): every logout is refused, none reaches the origin late, no 5xx`, async () => {
    const sessions = await sessionsFor(issuer.url, 150);
    const r = await runScale({ issuer, n: 4, design, seconds: 4, rttMs: 20, rate: 100, logoutsPerSecond: 5, sessions });
    assert.ok(r.logouts >= 10, `only ${r.logouts} logouts measured`);
    assert.equal(r.lateAtOrigin, 0, 'a revoked token reached the origin after the hard bound');
    assert.equal(r.fiveHundreds, 0);
    assert.ok(r.requests > 200, `${r.requests} requests served`);
  });
}
