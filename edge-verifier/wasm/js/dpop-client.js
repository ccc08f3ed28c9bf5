// tollgate-verifier/dpop-client: DPoP proofs (RFC 9449) from a page, made
// with a key pair the page holds but cannot export.
//
//   const key = await loadDpopKey();              // kept in IndexedDB
//   const res = await dpopFetch(key, '/v1/auth/login', { method: 'POST', body });
//   const api = await dpopFetch(key, '/api/todos', { accessToken });
//
// WebCrypto only, no wasm: the private key is made non-extractable, so
// script on the page (an XSS included) can ask it to sign but can never copy
// it elsewhere, and a token copied off the device is useless without it.
// ES256 by default, which every browser's WebCrypto has; EdDSA on request
// where the browser supports Ed25519.

const DB_NAME = 'tollgate-dpop';
const STORE = 'keys';

const ALGORITHMS = {
  ES256: { generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  EdDSA: { generate: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
};

const encoder = new TextEncoder();

function base64url(bytes) {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const json64 = (value) => base64url(encoder.encode(JSON.stringify(value)));

async function sha256(text) {
  return base64url(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

/** The RFC 7638 thumbprint of a public JWK: the `cnf.jkt` of tokens bound to it. */
export async function thumbprint(jwk) {
  const members = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return sha256(JSON.stringify(members));
}

/** A DPoP key: makes proofs, remembers the server's nonce per origin. */
export class DpopKey {
  #privateKey;
  #sign;
  #nonces = new Map();

  /** @internal Use `generateDpopKey` or `loadDpopKey`. */
  constructor(alg, keyPair, publicJwk, jkt) {
    this.alg = alg;
    this.publicJwk = publicJwk;
    this.thumbprint = jkt;
    this.#privateKey = keyPair.privateKey;
    this.#sign = ALGORITHMS[alg].sign;
    this.keyPair = keyPair;
  }

  /**
   * A proof for one request: `method` and `url` (its query and fragment are
   * left out, as RFC 9449 asks), `accessToken` when one goes with it (its
   * hash becomes `ath`), and the server's `nonce` if it asked for one (by
   * default the last one this origin sent).
   */
  async proof({ method, url, accessToken, nonce } = {}) {
    const target = new URL(url, globalThis.location?.href);
    const htu = `${target.origin}${target.pathname}`;
    const claims = {
      jti: crypto.randomUUID(),
      htm: method.toUpperCase(),
      htu,
      iat: Math.floor(Date.now() / 1000),
    };
    const useNonce = nonce ?? this.#nonces.get(target.origin);
    if (useNonce) claims.nonce = useNonce;
    if (accessToken) claims.ath = await sha256(accessToken);
    const header = { typ: 'dpop+jwt', alg: this.alg, jwk: this.publicJwk };
    const input = `${json64(header)}.${json64(claims)}`;
    const signature = await crypto.subtle.sign(this.#sign, this.#privateKey, encoder.encode(input));
    return `${input}.${base64url(signature)}`;
  }

  /** Remembers the nonce a response from `url`'s origin carried, if any. */
  rememberNonce(url, response) {
    const nonce = response.headers.get('dpop-nonce');
    if (nonce) this.#nonces.set(new URL(url, globalThis.location?.href).origin, nonce);
  }
}

async function fromKeyPair(alg, keyPair) {
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
  const publicJwk = kty === 'EC' ? { kty, crv, x, y } : { kty, crv, x };
  return new DpopKey(alg, keyPair, publicJwk, await thumbprint(publicJwk));
}

/**
 * A new key pair whose private half cannot be exported. `alg` is `ES256`
 * (default) or `EdDSA`; EdDSA falls back to ES256 where the browser lacks
 * Ed25519.
 */
export async function generateDpopKey({ alg = 'ES256' } = {}) {
  let chosen = ALGORITHMS[alg] ? alg : 'ES256';
  let keyPair;
  try {
    keyPair = await crypto.subtle.generateKey(ALGORITHMS[chosen].generate, false, ['sign', 'verify']);
  } catch (error) {
    if (chosen === 'ES256') throw error;
    chosen = 'ES256';
    keyPair = await crypto.subtle.generateKey(ALGORITHMS.ES256.generate, false, ['sign', 'verify']);
  }
  return fromKeyPair(chosen, keyPair);
}

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function inStore(db, mode, work) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

/**
 * The page's key named `name`, made on first use and kept in IndexedDB (a
 * CryptoKey is stored as it is, still non-extractable). Where there is no
 * IndexedDB (Node, Workers) the key lives as long as the process.
 */
export async function loadDpopKey({ name = 'default', alg = 'ES256' } = {}) {
  if (typeof indexedDB === 'undefined') return generateDpopKey({ alg });
  const db = await openDb();
  try {
    const stored = await inStore(db, 'readonly', (store) => store.get(name));
    if (stored?.keyPair) return fromKeyPair(stored.alg, stored.keyPair);
    const key = await generateDpopKey({ alg });
    await inStore(db, 'readwrite', (store) => store.put({ alg: key.alg, keyPair: key.keyPair }, name));
    return key;
  } finally {
    db.close();
  }
}

/** Forgets the stored key `name` (at logout-everywhere, say): the next load makes a new one. */
export async function forgetDpopKey({ name = 'default' } = {}) {
  if (typeof indexedDB === 'undefined') return;
  const db = await openDb();
  try {
    await inStore(db, 'readwrite', (store) => store.delete(name));
  } finally {
    db.close();
  }
}

/**
 * `fetch` with a DPoP proof. With `accessToken` it also sends
 * `Authorization: DPoP <token>`. When the server answers `use_dpop_nonce`
 * (a 400 or 401 carrying `DPoP-Nonce`), it retries once with that nonce.
 */
export async function dpopFetch(key, url, { accessToken, fetch: fetchFn = globalThis.fetch, ...init } = {}) {
  const method = (init.method ?? 'GET').toUpperCase();
  const attempt = async () => {
    const headers = new Headers(init.headers);
    headers.set('dpop', await key.proof({ method, url, accessToken }));
    if (accessToken) headers.set('authorization', `DPoP ${accessToken}`);
    const response = await fetchFn(url, { ...init, method, headers });
    key.rememberNonce(url, response);
    return response;
  };
  const response = await attempt();
  const askedForNonce = (response.status === 400 || response.status === 401)
    && response.headers.get('dpop-nonce')
    && (response.headers.get('www-authenticate')?.includes('use_dpop_nonce')
      || (await response.clone().json().catch(() => ({}))).code === 'use_dpop_nonce');
  return askedForNonce ? attempt() : response;
}
