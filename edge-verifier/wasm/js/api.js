// The public API of the npm package `tollgate-verifier`, over the wasm class.
// Plain ESM that uses only `fetch` and timers, so it runs in browsers, Node
// 20+ and Workers alike. The entry points (node.js, browser.js, workerd.js)
// load the wasm the way their platform allows and call `bind`.

/** Every code a verification can fail with; the same strings in Rust and HTTP. */
export const ERROR_CODES = Object.freeze([
  'malformed', 'token_too_large', 'unsupported_alg', 'unknown_kid', 'bad_signature',
  'wrong_type', 'wrong_issuer', 'wrong_audience', 'expired', 'not_yet_valid',
  'missing_claim', 'revoked', 'revocation_state_stale', 'invalid_dpop_proof', 'use_dpop_nonce',
]);

/** A token was refused, or the verifier could not do its job; `code` says which. */
export class VerifyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'VerifyError';
    this.code = code;
  }
}

/** Wraps anything thrown by the wasm module as a VerifyError with its code. */
function coded(error) {
  if (error instanceof VerifyError) return error;
  const code = typeof error?.code === 'string' ? error.code : 'internal';
  return new VerifyError(code, error?.message ?? String(error));
}

const nowSecs = () => Math.floor(Date.now() / 1000);

let Raw = null;
let RawSyncer = null;
let rawChallenge = null;
/** The algorithms whose signatures `createVerifier` checks with WebCrypto; the rest in wasm. */
let webCryptoAlgs = new Set();

/**
 * Called once by the entry point with the wasm-bindgen classes, the
 * challenge function, and the algorithms the platform's WebCrypto checks
 * faster than the wasm does (all of them in workerd and browsers, where it
 * is native BoringSSL; ES256 in Node, whose EdDSA is faster in wasm).
 */
export function bind(rawClass, rawSyncer, challengeFn, nativeAlgs = []) {
  Raw = rawClass;
  RawSyncer = rawSyncer;
  rawChallenge = challengeFn;
  webCryptoAlgs = new Set(typeof crypto?.subtle?.verify === 'function' ? nativeAlgs : []);
}

const IMPORT = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  HS256: { name: 'HMAC', hash: 'SHA-256' },
};
const VERIFY = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  HS256: { name: 'HMAC' },
};
/** Which signature of a PendingRequest: the token's or the DPoP proof's. */
const TOKEN = 0;
const PROOF = 1;
/** Imported CryptoKeys by JWK text: the issuer's few keys and recent DPoP keys. */
const importedKeys = new Map();
const MAX_IMPORTED = 1024;

/**
 * Whether `which` (TOKEN or PROOF) of a PendingRequest verifies;
 * WebCrypto or wasm, whichever is faster here. A boolean when nothing needs
 * awaiting (no signature to check, or the wasm checks it), else a promise:
 * each await costs a turn of the microtask queue on every request.
 */
function signatureOk(pending, which) {
  const alg = pending.alg(which);
  if (alg === undefined) return true; // nothing to check (a cached token, no proof)
  if (!webCryptoAlgs.has(alg)) return pending.verifyHere(which);
  return webCryptoOk(pending, which, alg);
}

async function webCryptoOk(pending, which, alg) {
  const jwk = pending.jwk(which);
  let key = importedKeys.get(jwk);
  if (!key) {
    try {
      key = await crypto.subtle.importKey('jwk', JSON.parse(jwk), IMPORT[alg], false, ['verify']);
    } catch (error) {
      if (error?.name !== 'NotSupportedError') return false; // a key it will not import signs nothing
      // An older browser without Ed25519, say: the wasm checks that algorithm from now on.
      webCryptoAlgs.delete(alg);
      return pending.verifyHere(which);
    }
    if (importedKeys.size >= MAX_IMPORTED) importedKeys.clear();
    importedKeys.set(jwk, key);
  }
  try {
    return await crypto.subtle.verify(VERIFY[alg], key, pending.signature(which), pending.message(which));
  } catch {
    return false;
  }
}

/**
 * The `WWW-Authenticate` value for a 401 with `code`, decided by the Rust
 * crate as at the edge: `DPoP algs="ES256 EdDSA", error="..."` for the DPoP
 * codes, `Bearer error="invalid_token", error_description="..."` for the
 * others, a bare `Bearer` for `missing_token`.
 */
export function challenge(code) {
  return rawChallenge ? rawChallenge(String(code)) : 'Bearer';
}

/**
 * What the verifier needs of an HTTP request: a Fetch API `Request` (or
 * anything with `headers.get`, `method` and `url`), or the parts already
 * picked out: `{ authorization, cookie, dpop, method, url }`. `publicUrl`
 * replaces the request's origin (scheme, host, port) when clients address
 * this service at another one, e.g. behind a proxy, for the DPoP proof's
 * `htu`.
 */
export function requestParts(request, { publicUrl } = {}) {
  let parts;
  if (request && typeof request.headers?.get === 'function') {
    const header = (name) => request.headers.get(name) ?? undefined;
    parts = {
      authorization: header('authorization'),
      cookie: header('cookie'),
      dpop: header('dpop'),
      method: request.method,
      url: request.url,
    };
  } else {
    const { authorization, cookie, dpop, method = '', url = '' } = request ?? {};
    parts = { authorization, cookie, dpop, method, url };
  }
  if (publicUrl && parts.url) {
    // The request's own URL may be a bare path (Node's req.url): only its
    // path is kept, under the configured public origin.
    let pathname;
    try {
      ({ pathname } = new URL(parts.url, publicUrl));
    } catch {
      throw new VerifyError('invalid_options', 'publicUrl must be an absolute http(s) URL');
    }
    parts.url = publicUrl.replace(/\/+$/, '') + pathname;
  }
  return parts;
}

/**
 * Verifies tollgate access tokens against a JWKS and a revocation set.
 * Synchronous: the caller feeds it keys and revocation pages.
 */
export class Verifier {
  #raw;

  constructor({ issuer, audience, jwks, algorithms, leewaySecs, cacheCapacity } = {}) {
    if (!Raw) throw new VerifyError('not_initialised', 'the wasm module is not loaded');
    const options = { issuer, audience, jwks: typeof jwks === 'string' ? JSON.parse(jwks) : jwks };
    if (algorithms !== undefined) options.algorithms = algorithms;
    if (leewaySecs !== undefined) options.leewaySecs = leewaySecs;
    if (cacheCapacity !== undefined) options.cacheCapacity = cacheCapacity;
    try {
      this.#raw = new Raw(JSON.stringify(options));
    } catch (error) {
      throw coded(error);
    }
  }

  /** The claims of `token` at `now` (Unix seconds, default the clock), or a thrown VerifyError. */
  verify(token, now = nowSecs()) {
    if (typeof token !== 'string') throw new VerifyError('malformed', 'the token must be a string');
    let json;
    try {
      json = this.#raw.verify(token, now);
    } catch (error) {
      throw coded(error);
    }
    return JSON.parse(json);
  }

  /**
   * The claims of what `request` presents (see `requestParts`): a Bearer
   * token, or a DPoP-bound token with its proof for this method and URL,
   * each proof usable once; or a thrown VerifyError (`missing_token` when
   * there is no token at all).
   */
  verifyRequest(request, now = nowSecs(), { publicUrl } = {}) {
    let json;
    try {
      json = this.#raw.verifyRequest(JSON.stringify(requestParts(request, { publicUrl })), now);
    } catch (error) {
      throw coded(error);
    }
    return JSON.parse(json);
  }

  /** Applies one page of the revocation feed (the parsed JSON object or its text). */
  applyRevocations(feed) {
    try {
      this.#raw.applyRevocations(typeof feed === 'string' ? feed : JSON.stringify(feed));
    } catch (error) {
      throw coded(error);
    }
  }

  /** Replaces the keys with a JWKS (object or text); remembered tokens are forgotten. */
  setKeys(jwks) {
    try {
      this.#raw.setKeys(typeof jwks === 'string' ? jwks : JSON.stringify(jwks));
    } catch (error) {
      throw coded(error);
    }
  }

  /** Drops revocations that ended before `beforeSecs`; returns how many. */
  prune(beforeSecs) {
    return this.#raw.prune(beforeSecs);
  }

  /** Whether a key with this `kid` is loaded. */
  hasKid(kid) {
    return this.#raw.hasKid(kid);
  }

  /** The feed cursor to resume from, or undefined before the first page. */
  get cursor() {
    return this.#raw.cursor;
  }

  /** How many revocations are held. */
  get revokedCount() {
    return this.#raw.revokedCount;
  }

  /** The `kid` a token's header names, if readable. Proves nothing. */
  static peekKid(token) {
    return typeof token === 'string' ? Raw.peekKid(token) : undefined;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * GETs `url` with `fetchFn`; the whole exchange, body included, must end by
 * `deadlineMs`. Resolves with [ok, text]: the body, or why it failed. Never
 * rejects and never outlives the deadline, even with a `fetch` that ignores
 * its signal.
 */
async function getText(fetchFn, url, deadlineMs) {
  const controller = new AbortController();
  let timer;
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve([false, `no complete answer from ${url} by the deadline`]);
    }, Math.max(0, deadlineMs - Date.now()));
  });
  const exchange = (async () => {
    try {
      const response = await fetchFn(url, { headers: { accept: 'application/json' }, signal: controller.signal });
      if (response.status !== 200) {
        response.body?.cancel?.().catch(() => {});
        return [false, `GET ${url}: HTTP ${response.status}`];
      }
      return [true, await response.text()];
    } catch (error) {
      return [false, `GET ${url}: ${error?.message ?? error}`];
    }
  })();
  try {
    return await Promise.race([exchange, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A verifier that keeps itself in sync with an issuer, by the verifier
 * crate's sync policy (its `Syncer`, the same Rust code as at the edge):
 * this function only performs the fetches it asks for.
 * - No token is accepted before the JWKS and a whole snapshot are loaded.
 * - Past `refreshAheadMs` the state is refreshed in the background; past
 *   `maxAgeMs` a token waits for the sync (one at a time), never beyond the
 *   fetch's deadline (`requestTimeoutMs`, body included) nor `failAfterMs`.
 * - With the issuer unreachable the last state serves until `failAfterMs`
 *   after the last good sync, then `revocation_state_stale` is thrown.
 * - A snapshot replaces the state only once all its pages have arrived; a
 *   new key-set version on the feed reloads the JWKS before the next token.
 * - An unknown `kid` refetches the JWKS at most once per `jwksCooldownMs`.
 */
export async function createVerifier({
  issuerUrl,
  audience,
  issuer = issuerUrl,
  maxAgeMs = 1000,
  failAfterMs = 30000,
  refreshAheadMs,
  requestTimeoutMs,
  jwksCooldownMs,
  leewaySecs,
  algorithms,
  fetch: fetchFn = globalThis.fetch,
} = {}) {
  if (typeof issuerUrl !== 'string' || !audience) {
    throw new VerifyError('invalid_options', 'issuerUrl and audience are required');
  }
  if (!RawSyncer) throw new VerifyError('not_initialised', 'the wasm module is not loaded');
  const base = issuerUrl.replace(/\/+$/, '');
  const options = { issuer, audience, maxAgeMs, failAfterMs };
  for (const [name, value] of Object.entries({ refreshAheadMs, requestTimeoutMs, jwksCooldownMs, leewaySecs, algorithms })) {
    if (value !== undefined) options[name] = value;
  }
  let raw;
  try {
    raw = new RawSyncer(JSON.stringify(options));
  } catch (error) {
    throw coded(error);
  }
  let closed = false;

  /** Performs `fetch` and every fetch the syncer asks for after it. */
  async function drive(fetch) {
    while (fetch) {
      const [ok, text] = await getText(fetchFn, base + fetch.path, fetch.deadlineMs);
      const next = raw.onResponse(fetch.id, Date.now(), ok, text);
      fetch = next === undefined ? null : JSON.parse(next);
    }
  }
  /**
   * Drives a refresh nobody waits for. In Workers, pass the request's
   * `waitUntil`: I/O a request started is cancelled when it ends unless the
   * runtime is told to wait for it (the syncer would then only see the
   * fetch expire at its deadline).
   */
  const background = (fetch, waitUntil) => {
    if (!fetch || closed) return;
    const work = drive(fetch).catch(() => {});
    if (waitUntil) waitUntil(work);
  };

  /**
   * Does what the syncer says until a token may be checked. `first` is the
   * syncer's first answer, when the caller already asked for it.
   */
  async function ready(waitUntil, arrived = Date.now(), first = raw.step(arrived, arrived)) {
    for (let text = first; ; text = raw.step(Date.now(), arrived)) {
      if (text === undefined) return;
      const step = JSON.parse(text);
      switch (step.action) {
        case 'ready':
          background(step.refresh, waitUntil);
          return;
        case 'fetch':
          await drive(step.fetch);
          break;
        case 'wait':
          await sleep(Math.max(1, Math.min(5, step.untilMs - Date.now())));
          break;
        default:
          background(step.refresh, waitUntil);
          throw new VerifyError('revocation_state_stale', step.reason);
      }
    }
  }

  /**
   * Checks a request: the Rust syncer prepares, the signatures are checked
   * with WebCrypto where that is faster, the syncer judges the rest. If the
   * keys change in between (a JWKS reload), it starts over.
   */
  const checkRequest = async (begin) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      let pending;
      try {
        pending = begin(Date.now());
      } catch (error) {
        throw coded(error);
      }
      let claims;
      try {
        let tokenOk = signatureOk(pending, TOKEN);
        if (tokenOk !== true && tokenOk !== false) tokenOk = await tokenOk;
        let proofOk = tokenOk ? signatureOk(pending, PROOF) : true;
        if (proofOk !== true && proofOk !== false) proofOk = await proofOk;
        const used = pending;
        pending = null;
        claims = raw.finishRequest(used, tokenOk, proofOk, Date.now());
      } catch (error) {
        throw coded(error);
      } finally {
        pending?.free();
      }
      if (claims !== undefined) return JSON.parse(claims);
    }
    throw new VerifyError('unknown_kid', 'the keys changed during every attempt');
  };

  /** Runs `check` once the state may be trusted; after `unknown_kid`, refetches the JWKS and runs it again. */
  async function verified(check, waitUntil) {
    if (closed) throw new VerifyError('closed', 'this verifier was closed');
    // The common case (fresh state, nothing to do) without an await.
    const arrived = Date.now();
    const first = raw.step(arrived, arrived);
    if (first !== undefined) await ready(waitUntil, arrived, first);
    try {
      return await check();
    } catch (error) {
      if (error.code !== 'unknown_kid') throw error;
      // Perhaps the issuer rotated: refetch the JWKS (rate-limited), retry once.
      const refetch = raw.refetchKeys(Date.now());
      if (refetch === undefined) throw error;
      await drive(JSON.parse(refetch));
      await ready(waitUntil); // the refetch took time: the state's age is the syncer's to judge again
      return check();
    }
  }

  await ready();

  return {
    /**
     * Claims of `token`, once the revocation state may be trusted. In
     * Workers pass `{ waitUntil: (p) => ctx.waitUntil(p) }`, so background
     * refreshes outlive the request that started them.
     */
    async verify(token, { waitUntil } = {}) {
      if (typeof token !== 'string') throw new VerifyError('malformed', 'the token must be a string');
      if (/\s/.test(token)) throw new VerifyError('malformed', 'the token holds whitespace');
      return verified(() => checkRequest((now) => raw.beginToken(token, now)), waitUntil);
    },
    /**
     * Claims of what `request` presents (a Fetch `Request`, or
     * `{ authorization, cookie, dpop, method, url }`): a Bearer token, or a
     * DPoP-bound token with its proof for this method and URL, each proof
     * usable once in this process or isolate. `publicUrl` replaces the
     * request's origin for the proof's `htu` when clients address this
     * service elsewhere (a proxy in front). Throws `missing_token` when
     * there is no token at all.
     */
    async verifyRequest(request, { waitUntil, publicUrl } = {}) {
      const parts = JSON.stringify(requestParts(request, { publicUrl }));
      return verified(() => checkRequest((now) => raw.beginRequest(parts, now)), waitUntil);
    },
    /** Pulls the feed now (or waits for the sync in flight); resolves when it ends. */
    async sync() {
      const fetch = raw.syncNow(Date.now());
      if (fetch !== undefined) await drive(JSON.parse(fetch));
      while (raw.inFlight(Date.now())) await sleep(5);
      const { lastError } = JSON.parse(raw.status(Date.now()));
      if (lastError) throw new VerifyError('revocation_state_stale', lastError);
    },
    /** Whether a key with this `kid` is loaded. */
    hasKid(kid) {
      return raw.hasKid(kid);
    },
    /** State for health pages: cursor, entries held, age, key-set version, last error. */
    status() {
      return JSON.parse(raw.status(Date.now()));
    },
    /** Stops using it; later `verify` calls throw `closed`. */
    close() {
      closed = true;
    },
  };
}
