// Clients that hang up, for every adapter: raw HTTP on a real socket, and
// the two sequences of issue 17 item 1, run against any verifier that
// stands between a client and a handler (the edge in workerd, a Node
// server with createVerifier, the Hono middleware in workerd, and the
// axum extractor in its own Rust test).
import { hangUp as hangUpRaw, rawRequest } from './raw.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const bearer = (token) => ({ authorization: `Bearer ${token}` });

/** Sends `token` to `url + path`; resolves with the status code. */
export async function rawStatus(url, path, token) {
  return (await rawRequest(url, { path, headers: bearer(token) })).status;
}

/** Sends `token` to `url + path`, then hangs up after `afterMs`. */
export function hangUp(url, path, token, afterMs = 30) {
  return hangUpRaw(url, { path, headers: bearer(token) }, afterMs);
}

/**
 * The hang-up-mid-sync sequence against a healthy issuer (the stub) that
 * answers the feed in 400 ms: revoke a session, let the state turn older
 * than `maxAgeMs`, send one request and hang up after 30 ms, wait past that
 * fetch's deadline (`requestTimeoutMs`), then send the revoked token every
 * 50 ms for 1.5 s. Resolves with how many passed, of how many sent.
 */
export async function revokedAfterHangUp({ stub, url, path, maxAgeMs, requestTimeoutMs }) {
  stub.delayMs.feed = 400;
  const sid = crypto.randomUUID();
  const token = await stub.mint({ sid });
  const first = await rawStatus(url, path, token);
  if (first !== 200) throw new Error(`the token was refused before its revocation: ${first}`);
  stub.revoke(sid);
  await sleep(maxAgeMs + 100);
  await hangUp(url, path, await stub.mint());
  await sleep(requestTimeoutMs + 400);
  let passed = 0;
  let sent = 0;
  const end = Date.now() + 1500;
  while (Date.now() < end) {
    sent += 1;
    if (await rawStatus(url, path, token) === 200) passed += 1;
    await sleep(50);
  }
  stub.delayMs.feed = 0;
  return { passed, sent };
}

/**
 * A made-up `kid` whose client hangs up while the JWKS is refetched for it
 * (the stub answers the JWKS in 400 ms), then, once the state is older than
 * `maxAgeMs`, a valid request that needs a sync. Resolves with how long that
 * request took (ms): about the issuer's time if nothing holds the sync up,
 * the fetch timeout if the abandoned refetch does.
 */
export async function waitBehindAbandonedRefetch({ stub, url, path, maxAgeMs }) {
  const good = await stub.mint();
  const first = await rawStatus(url, path, good);
  if (first !== 200) throw new Error(`a valid token was refused: ${first}`);
  const madeUp = await stub.addKey();
  stub.withdraw(madeUp);
  stub.keysVersion -= 2; // the feed announces no key change
  const forged = await stub.mint({ kid: madeUp });
  stub.delayMs.jwks = 400;
  await hangUp(url, path, forged);
  await sleep(maxAgeMs);
  const started = Date.now();
  const status = await rawStatus(url, path, good);
  const took = Date.now() - started;
  stub.delayMs.jwks = 0;
  if (status !== 200) throw new Error(`a valid token was refused after the refetch: ${status}`);
  return took;
}
