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
let rawRefusal = null;
let rawPeekKid = null;
/**
 * The wasm enums: what to do next for an attempt, which signature, and its
 * algorithm (`Alg[code]` is the name). The last bind's serve every
 * verifier: both builds export the same Rust enums, so their numbers agree.
 */
let Action = null;
let Signature = null;
let Alg = null;

/**
 * What one bind decided about signatures, which each verifier made after it
 * keeps (a later bind of the other build changes none of it):
 * - `webCrypto`: whether this platform has WebCrypto at all (not on a page
 *   that is not a secure context);
 * - `webCryptoAlgs`: the algorithms checked with WebCrypto, the rest in wasm;
 * - `memory`: the instance's memory, which signatures and signed bytes are
 *   read from through views (WebCrypto copies them when called);
 * - `wasmChecks`: whether the wasm carries the crate's own signature checks
 *   (the Node build; the lean build of the browser and Workers entries
 *   leaves every signature to WebCrypto, and has no synchronous `Verifier`);
 * - `token`, `proof`: its instance's imported CryptoKeys, the key set's by
 *   key number and recent DPoP keys by algorithm and JWK text, apart so
 *   clients sending proofs with ever new keys (each a caller's choice)
 *   evict only each other, never the key set's. Key numbers are unique
 *   within one instance only, so one instance's key must never be found
 *   under another's number.
 */
function binding(wasm, nativeAlgs) {
  const webCrypto = typeof crypto?.subtle?.verify === 'function';
  return {
    webCrypto,
    webCryptoAlgs: new Set(webCrypto ? nativeAlgs : []),
    wasmChecks: typeof wasm.Attempt?.prototype?.verifyHere === 'function',
    memory: wasm.wasmMemory?.(),
    token: new Map(),
    proof: new Map(),
  };
}
let bound = binding({}, []);

/**
 * Called once by the entry point with the wasm-bindgen module's exports it
 * needs, and the algorithms the platform's WebCrypto checks faster than
 * the wasm does (all of them in workerd and browsers, where it is native
 * BoringSSL; ES256 in Node, whose EdDSA is faster in wasm).
 */
export function bind(wasm, nativeAlgs = []) {
  ({ Verifier: Raw, Syncer: RawSyncer, refusal: rawRefusal, peekKid: rawPeekKid, Action, Signature, Alg } = wasm);
  bound = binding(wasm, nativeAlgs);
}

/** Signature `which` checked in wasm; in the lean build, a coded refusal. */
function verifyInWasm(attempt, which, alg, { wasmChecks }) {
  if (wasmChecks) return attempt.verifyHere(which);
  return unsupported(alg, wasmChecks);
}

function unsupported(alg, wasmChecks) {
  throw new VerifyError(
    'unsupported_alg',
    `${alg}: this platform's WebCrypto cannot check it (none at all on a page that is not a secure context)${wasmChecks ? '' : ', and this build leaves signatures to WebCrypto'}`,
  );
}

const IMPORT = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  HS256: { name: 'HMAC', hash: 'SHA-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
};
const VERIFY = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  HS256: { name: 'HMAC' },
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  PS256: { name: 'RSA-PSS', saltLength: 32 },
};
/**
 * The algorithms the wasm leaves out (upstream providers' RSA): always
 * WebCrypto's, which every runtime this package supports has.
 */
const PLATFORM_ONLY = new Set(['RS256', 'PS256']);
/** Each map of imported keys (see `binding`) is emptied when it reaches this many. */
const MAX_IMPORTED = 1024;

/**
 * Whether signature `which` (Signature.Token or .Proof) of an attempt
 * verifies; WebCrypto or wasm, whichever is faster here. `undefined` when
 * there is none to check; a boolean when nothing needs awaiting (the wasm
 * checks it), else a promise: each await costs a turn of the microtask
 * queue on every request.
 */
function signatureOk(attempt, which, bound) {
  const code = attempt.alg(which);
  if (code === undefined) return undefined;
  const alg = Alg[code];
  if (!bound.webCryptoAlgs.has(alg) && !PLATFORM_ONLY.has(alg)) return verifyInWasm(attempt, which, alg, bound);
  if (!bound.webCrypto) return unsupported(alg, bound.wasmChecks);
  return webCryptoOk(attempt, which, alg, bound);
}

/**
 * Whether a signature check's answer must be awaited: anything with a
 * `then`, whatever its class. `instanceof Promise` misses the native
 * promise of an async function once a page replaces the global `Promise`
 * (a polyfill, zone.js), and that pending promise, truthy, would pass.
 */
const awaitable = (answer) => typeof answer?.then === 'function';

/** The answer as the wasm takes it: `undefined` (none to check), else `true` only for a real `true`. */
const verdict = (answer) => (answer === undefined ? undefined : answer === true);

async function webCryptoOk(attempt, which, alg, bound) {
  // A token's key (from the key set) by its number, which no other key
  // ever has; the key set pins each key to one algorithm, so the number
  // names the algorithm too. A proof's key by its algorithm and JWK text,
  // so a client's key is imported once, not once per proof (each proof's
  // key is parsed anew): one RSA key may sign RS256 and PS256 proofs, and
  // a CryptoKey is imported for one algorithm.
  const token = which === Signature.Token;
  const cache = token ? bound.token : bound.proof;
  const id = token ? attempt.keySerial(which) : `${alg} ${attempt.jwk(which)}`;
  let key = cache.get(id);
  if (!key) {
    try {
      key = await crypto.subtle.importKey('jwk', JSON.parse(attempt.jwk(which)), IMPORT[alg], false, ['verify']);
    } catch (error) {
      if (error?.name !== 'NotSupportedError' || PLATFORM_ONLY.has(alg)) return false; // a key it will not import signs nothing
      // An older browser without Ed25519, say: the wasm checks that
      // algorithm from now on. The lean build has no wasm check: it refuses
      // this attempt only, so a key a caller picked (a DPoP proof's) cannot
      // switch the algorithm off for everyone after it.
      if (bound.wasmChecks) bound.webCryptoAlgs.delete(alg);
      return verifyInWasm(attempt, which, alg, bound);
    }
    if (cache.size >= MAX_IMPORTED) cache.clear();
    cache.set(id, key);
  }
  try {
    // Views of the bytes where they lie in wasm memory, no copy: WebCrypto
    // copies them as it is called, before anything else runs in wasm. The
    // buffer is taken after the last call in (a memory that grows replaces it).
    const signatureAt = attempt.signatureAt(which);
    const signatureLength = attempt.signatureLength(which);
    const messageAt = attempt.messageAt(which);
    const messageLength = attempt.messageLength(which);
    const { buffer } = bound.memory;
    const signature = new Uint8Array(buffer, signatureAt, signatureLength);
    return await crypto.subtle.verify(VERIFY[alg], key, signature, new Uint8Array(buffer, messageAt, messageLength));
  } catch {
    return false;
  }
}

/**
 * How every tollgate verifier answers a refused request, decided by the
 * Rust crate: `{ status, challenge, body }` for `code` (a verifier code or
 * `missing_token`), with `detail` in the problem+json body. `dpop`: the
 * request carried a DPoP proof, so a missing token is also challenged with
 * the DPoP scheme.
 */
export function refusal(code, detail = '', { dpop = false } = {}) {
  if (!rawRefusal) throw new VerifyError('not_initialised', 'the wasm module is not loaded');
  return JSON.parse(rawRefusal(String(code), String(detail), Boolean(dpop)));
}

/**
 * The `WWW-Authenticate` value for a 401 with `code`, as the edge answers:
 * `DPoP algs="ES256 EdDSA Ed25519", error="..."` for the DPoP codes,
 * `Bearer error="invalid_token", error_description="..."` for the others, a
 * bare `Bearer` for `missing_token`.
 */
export function challenge(code) {
  return rawRefusal ? (refusal(code).challenge ?? 'Bearer') : 'Bearer';
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
 * The parts as the wasm takes them, in order: `authorization`, `cookie`,
 * `dpop` (each a string or absent), `method`, `url` (strings).
 */
function partsArguments({ authorization, cookie, dpop, method = '', url = '' }) {
  const headers = [authorization, cookie, dpop].map((value) => (value === null ? undefined : value));
  for (const value of [...headers, method, url]) {
    if (value !== undefined && typeof value !== 'string') {
      throw new VerifyError('invalid_options', 'the parts of a request are strings');
    }
  }
  return [...headers, method, url];
}

/**
 * Verifies tollgate access tokens against a JWKS and a revocation set.
 * Synchronous: the caller feeds it keys and revocation pages.
 */
export class Verifier {
  #raw;

  constructor({ jwks, ...options } = {}) {
    // Loaded (the syncer is there) but built without it: the lean build.
    if (RawSyncer && !Raw) {
      throw new VerifyError(
        'not_available',
        'the synchronous Verifier checks signatures in wasm, which only the Node build carries; in browsers and Workers use createVerifier (WebCrypto)',
      );
    }
    if (!Raw) throw new VerifyError('not_initialised', 'the wasm module is not loaded');
    // Every option goes to Rust, which refuses unknown ones and checks the rest.
    const all = { ...options, jwks: typeof jwks === 'string' ? JSON.parse(jwks) : jwks };
    try {
      this.#raw = new Raw(JSON.stringify(all));
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
      json = this.#raw.verifyRequest(...partsArguments(requestParts(request, { publicUrl })), now);
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
    if (!rawPeekKid) throw new VerifyError('not_initialised', 'the wasm module is not loaded');
    return typeof token === 'string' ? rawPeekKid(token) : undefined;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * GETs `url` with `fetchFn`; the whole exchange, body included, must end by
 * `deadlineMs`. Resolves with [ok, text]: the body, or why it failed. Never
 * rejects and never outlives the deadline, even with a `fetch` that ignores
 * its signal.
 */
async function getText(fetchFn, url, deadlineMs, now) {
  const controller = new AbortController();
  let timer;
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve([false, `no complete answer from ${url} by the deadline`]);
    }, Math.max(0, deadlineMs - now()));
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
 * this function only performs what it says.
 * - No token is accepted before the JWKS and a whole snapshot are loaded.
 * - Past `refreshAheadMs` the state is refreshed in the background; past
 *   `maxAgeMs` a token waits for the sync (one at a time), never beyond the
 *   fetch's deadline (`requestTimeoutMs`, body included) nor `failAfterMs`.
 * - With the issuer unreachable the last state serves until `failAfterMs`
 *   after the last good sync, then `revocation_state_stale` is thrown.
 * - A snapshot replaces the state only once all its pages have arrived; a
 *   new key-set version on the feed reloads the JWKS before the next token.
 * - An unknown `kid` refetches the JWKS at most once per `jwksCooldownMs`.
 * - Every fetch runs detached from the call that needed it (handed to
 *   `waitUntil` where given): a caller that goes away takes nothing with it.
 *
 * Resolves once the first snapshot and the keys are loaded.
 */
export async function createVerifier(options = {}) {
  const verifier = createLazyVerifier(options);
  await verifier.ready();
  return verifier;
}

/**
 * `createVerifier` without the wait: returns at once, and the first
 * `verify` waits for the first snapshot under the usual bounds (the fetch's
 * deadline, `failAfterMs`). For middleware that is made inside a request
 * (Hono on Workers, whose settings arrive with the request): nothing is
 * awaited while it is made, so a request cancelled then cannot wedge the
 * ones after it. `now` replaces the clock (Unix ms), for tests.
 */
export function createLazyVerifier({
  issuerUrl,
  audience,
  issuer = issuerUrl,
  leewaySecs,
  algorithms,
  cacheCapacity,
  fetch: fetchFn = globalThis.fetch,
  now = Date.now,
  ...rest
} = {}) {
  if (typeof issuerUrl !== 'string' || !audience) {
    throw new VerifyError('invalid_options', 'issuerUrl and audience are required');
  }
  if (!RawSyncer) throw new VerifyError('not_initialised', 'the wasm module is not loaded');
  const base = issuerUrl.replace(/\/+$/, '');
  // Only what the caller set: every default is the Rust crate's.
  const settings = { issuer, audience };
  for (const [name, value] of Object.entries({ leewaySecs, algorithms, cacheCapacity, ...rest })) {
    if (value !== undefined) settings[name] = value;
  }
  let raw;
  try {
    raw = new RawSyncer(JSON.stringify(settings));
  } catch (error) {
    throw coded(error);
  }
  // What the bind of the instance `raw` belongs to decided (taken with it,
  // in the same turn: a later bind decides for later verifiers only).
  const signatures = bound;
  let closed = false;

  /** Performs `fetch` and every fetch the syncer asks for after it. */
  async function drive(fetch) {
    while (fetch) {
      const [ok, text] = await getText(fetchFn, base + fetch.path, fetch.deadlineMs, now);
      const next = raw.onResponse(fetch.id, now(), ok, text);
      fetch = next === undefined ? null : JSON.parse(next);
    }
  }

  /**
   * Starts a fetch detached from whoever asked for it. In Workers, pass the
   * request's `waitUntil`: I/O a request started is cancelled when it ends
   * (or its client goes away) unless the runtime is told to wait for it.
   */
  const spawn = (fetch, waitUntil) => {
    const work = drive(fetch).catch(() => {});
    if (waitUntil) waitUntil(work);
  };

  /**
   * Does what the syncer says for `attempt` until it answers; returns the
   * attempt, answered. Signatures are checked with WebCrypto where that is
   * faster, else in wasm.
   */
  async function run(attempt, waitUntil) {
    for (;;) {
      switch (raw.advance(attempt, now())) {
        case Action.Spawn:
          spawn(JSON.parse(attempt.fetch()), waitUntil);
          break;
        case Action.Sleep:
          await sleep(Math.max(1, attempt.untilMs - now()));
          break;
        case Action.Check: {
          let tokenOk = signatureOk(attempt, Signature.Token, signatures);
          if (awaitable(tokenOk)) tokenOk = await tokenOk;
          // A bad token signature is refused as such; its proof need not be checked.
          let proofOk = tokenOk === false ? undefined : signatureOk(attempt, Signature.Proof, signatures);
          if (awaitable(proofOk)) proofOk = await proofOk;
          attempt.checked(verdict(tokenOk), verdict(proofOk));
          break;
        }
        default:
          return attempt;
      }
    }
  }

  /** The claims `attempt` ends with, or its coded error; the attempt is freed. */
  async function claimsOf(attempt, waitUntil) {
    if (closed) {
      attempt.free();
      throw new VerifyError('closed', 'this verifier was closed');
    }
    try {
      await run(attempt, waitUntil);
      return JSON.parse(attempt.claims());
    } catch (error) {
      throw coded(error);
    } finally {
      attempt.free();
    }
  }

  /** Runs a sync attempt to its end; throws `revocation_state_stale` with the reason if it failed. */
  async function catchUp(attempt, waitUntil) {
    try {
      await run(attempt, waitUntil);
      attempt.result();
    } catch (error) {
      throw coded(error);
    } finally {
      attempt.free();
    }
  }

  return {
    /**
     * Claims of `token`, once the revocation state may be trusted. In
     * Workers pass `{ waitUntil: (p) => ctx.waitUntil(p) }`, so the fetches
     * it starts outlive the request.
     */
    async verify(token, { waitUntil } = {}) {
      if (typeof token !== 'string') throw new VerifyError('malformed', 'the token must be a string');
      return claimsOf(raw.admitToken(token, now()), waitUntil);
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
      let attempt;
      try {
        attempt = raw.admitRequest(...partsArguments(requestParts(request, { publicUrl })), now());
      } catch (error) {
        throw coded(error);
      }
      return claimsOf(attempt, waitUntil);
    },
    /** Resolves once the state may be used (the first snapshot and keys are in); else throws `revocation_state_stale`. */
    async ready({ waitUntil } = {}) {
      return catchUp(raw.untilUsable(now()), waitUntil);
    },
    /** Pulls the feed now (or waits for the sync in flight); resolves when it ends. */
    async sync({ waitUntil } = {}) {
      return catchUp(raw.syncNow(now()), waitUntil);
    },
    /** Whether a key with this `kid` is loaded. */
    hasKid(kid) {
      return raw.hasKid(kid);
    },
    /** State for health pages: cursor, entries held, age, key-set version, last error. */
    status() {
      return JSON.parse(raw.status(now()));
    },
    /** Stops using it; later `verify` calls throw `closed`. */
    close() {
      closed = true;
    },
  };
}
