// The public API of the npm package `tollgate-verifier`, over the wasm class.
// Plain ESM that uses only `fetch` and timers, so it runs in browsers, Node
// 20+ and Workers alike. The entry points (node.js, browser.js, workerd.js)
// load the wasm the way their platform allows and call `bind`.

/** Every code a verification can fail with; the same strings in Rust and HTTP. */
export const ERROR_CODES = Object.freeze([
  'malformed', 'token_too_large', 'unsupported_alg', 'unknown_kid', 'bad_signature',
  'wrong_type', 'wrong_issuer', 'wrong_audience', 'expired', 'not_yet_valid',
  'missing_claim', 'revoked', 'revocation_state_stale',
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

/** Called once by the entry point with the wasm-bindgen `Verifier` class. */
export function bind(rawClass) {
  Raw = rawClass;
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

/**
 * A verifier that keeps itself in sync with an issuer: JWKS at start and on
 * an unknown `kid` (at most once per `jwksCooldownMs`), and the revocation
 * feed before any token is checked against state older than `maxAgeMs`.
 * While the issuer is unreachable it serves from the last state until
 * `failAfterMs` has passed since the last good sync, then refuses with
 * `revocation_state_stale`. One sync runs at a time; callers share it.
 */
export async function createVerifier({
  issuerUrl,
  audience,
  issuer = issuerUrl,
  maxAgeMs = 1000,
  failAfterMs = 30000,
  jwksCooldownMs = 30000,
  leewaySecs,
  fetch: fetchFn = globalThis.fetch,
} = {}) {
  if (typeof issuerUrl !== 'string' || !audience) {
    throw new VerifyError('invalid_options', 'issuerUrl and audience are required');
  }
  const base = issuerUrl.replace(/\/+$/, '');
  const getJson = async (path) => {
    const response = await fetchFn(base + path, { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}`);
    return response.json();
  };

  const verifier = new Verifier({ issuer, audience, jwks: await getJson('/.well-known/jwks.json'), leewaySecs });
  let lastSync = -Infinity; // Date.now() of the last complete sync
  let lastError = null;
  let inFlight = null;
  let lastJwks = Date.now();
  let closed = false;

  async function pull() {
    // Follow `more` until caught up; a snapshot page (reset) replaces the set.
    for (;;) {
      const cursor = verifier.cursor;
      const query = cursor ? `?since=${encodeURIComponent(cursor)}` : '';
      const page = await getJson(`/v1/revocations${query}`);
      verifier.applyRevocations(page);
      if (!page.more) break;
    }
    verifier.prune(nowSecs() - (leewaySecs ?? 30));
  }

  function sync() {
    if (!inFlight) {
      const started = Date.now();
      inFlight = pull()
        .then(() => {
          lastSync = started;
          lastError = null;
        })
        .catch((error) => {
          lastError = error;
          throw error;
        })
        .finally(() => {
          inFlight = null;
        });
    }
    return inFlight;
  }

  async function fresh() {
    if (Date.now() - lastSync <= maxAgeMs) return;
    try {
      await sync();
    } catch (error) {
      if (Date.now() - lastSync > failAfterMs) {
        throw new VerifyError('revocation_state_stale',
          `revocation state could not be refreshed: ${error?.message ?? error}`);
      }
    }
  }

  await sync();

  return {
    verifier,
    /** Claims of `token`, after making sure the revocation state is fresh. */
    async verify(token) {
      if (closed) throw new VerifyError('closed', 'this verifier was closed');
      await fresh();
      try {
        return verifier.verify(token);
      } catch (error) {
        if (error.code !== 'unknown_kid' || Date.now() - lastJwks < jwksCooldownMs) throw error;
        // Perhaps the issuer rotated: refetch the JWKS once, then retry.
        lastJwks = Date.now();
        const kid = Verifier.peekKid(token);
        verifier.setKeys(await getJson('/.well-known/jwks.json'));
        if (!kid || !verifier.hasKid(kid)) throw error;
        return verifier.verify(token);
      }
    },
    /** Pulls the feed now; resolves when caught up. */
    sync,
    /** State for health pages: cursor, entries held, age, last error. */
    status() {
      return {
        cursor: verifier.cursor,
        revoked: verifier.revokedCount,
        ageMs: Date.now() - lastSync,
        lastError: lastError ? String(lastError.message ?? lastError) : null,
      };
    },
    /** Stops using it; later `verify` calls throw `closed`. */
    close() {
      closed = true;
    },
  };
}
