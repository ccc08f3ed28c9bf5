// Types of the npm package `tollgate-verifier` (checked by hand against api.js).

/** Every code a verification can fail with: the same strings in Rust, JS and HTTP. */
export type VerifyErrorCode =
  | 'malformed'
  | 'token_too_large'
  | 'unsupported_alg'
  | 'unknown_kid'
  | 'bad_signature'
  | 'wrong_type'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_claim'
  | 'revoked'
  | 'revocation_state_stale'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

/** Codes for misuse rather than a bad token (and `missing_token`: no token at all). */
export type UsageErrorCode =
  | 'missing_token'
  | 'invalid_options'
  | 'invalid_jwks'
  | 'invalid_feed'
  | 'not_initialised'
  | 'closed'
  | 'internal';

export declare const ERROR_CODES: readonly VerifyErrorCode[];

/** Thrown for every refusal; branch on `code`, never on `message`. */
export declare class VerifyError extends Error {
  readonly name: 'VerifyError';
  readonly code: VerifyErrorCode | UsageErrorCode;
}

export type Algorithm = 'EdDSA' | 'ES256' | 'HS256' | 'RS256' | 'PS256';

/** A JSON Web Key as the issuer publishes it (public parts only). */
export interface Jwk {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  k?: string;
}

export interface Jwks {
  keys: Jwk[];
  /** The issuer's key-set version these keys are at (tollgate issuers set it). */
  keys_version?: string;
  /** The upstream identity providers the issuer trusts, with their rules. */
  upstreams?: UpstreamRules[];
}

/** How tokens of one upstream identity provider are judged (docs/upstream.md). */
export interface UpstreamRules {
  iss: string;
  audiences: string[];
  algorithms?: Algorithm[];
  token_types?: string[];
  session_claim?: string;
  roles_claim?: string;
  max_token_lifetime_secs?: number;
}

/**
 * The claims of a verified access token (RFC 9068 profile): tollgate's own,
 * or a trusted upstream provider's, read by its rules.
 */
export interface AccessClaims {
  /** tollgate's issuer, or the upstream provider's. */
  iss: string;
  /** For tollgate, the user's UUID; for an upstream, its own user id. */
  sub: string;
  aud: string | string[];
  iat: number;
  exp: number;
  nbf?: number;
  /** Token id (a UUID in tollgate's tokens; an upstream's may have none). */
  jti?: string;
  /** Session id: logging the session out revokes it (a UUID in tollgate's tokens). */
  sid?: string;
  /** Roles; an upstream's from its roles claim. */
  roles: string[];
  email?: string;
  /** The DPoP key the token is bound to (RFC 9449), if it is. */
  cnf?: { jkt: string };
}

/**
 * What the verifier needs of an HTTP request: a Fetch `Request` (or
 * anything with `headers.get`, `method` and `url`), or the parts themselves.
 */
export type RequestLike =
  | { headers: { get(name: string): string | null }; method: string; url: string }
  | RequestParts;

export interface RequestParts {
  authorization?: string;
  cookie?: string;
  /** The `DPoP` header (repeated headers joined with ", ", as Fetch does). */
  dpop?: string;
  method: string;
  /** The URL the client addressed. */
  url: string;
}

export interface RequestOptions {
  /** The origin clients address, if not the request's own (a proxy in front), for DPoP's `htu`. */
  publicUrl?: string;
}

/** Picks the parts out of a request (`publicUrl` replaces its origin). */
export declare function requestParts(request: RequestLike, options?: RequestOptions): RequestParts;

/** The `WWW-Authenticate` value for a 401 with `code`, as the edge answers. */
export declare function challenge(code: VerifyErrorCode | 'missing_token'): string;

/** A refused request as every tollgate verifier answers it (decided by the Rust crate). */
export interface Refusal {
  /** 401, or 503 for `revocation_state_stale`. */
  status: number;
  /** The `WWW-Authenticate` value, for a 401. */
  challenge: string | null;
  /** The problem+json body (RFC 9457), as text. */
  body: string;
}

/**
 * The refusal for `code` with `detail` in its body. `dpop`: the request
 * carried a DPoP proof (a missing token is then also challenged with the
 * DPoP scheme, RFC 9449 §7.1).
 */
export declare function refusal(
  code: VerifyErrorCode | 'missing_token',
  detail?: string,
  options?: { dpop?: boolean },
): Refusal;

/**
 * One revocation, until a Unix time: a session or a single token (with
 * `iss` for an upstream provider's), or every token of a subject issued at
 * or before `before`.
 */
export type RevocationEntry =
  | { iss?: string; sid: string; until: number }
  | { iss?: string; jti: string; until: number }
  | { iss?: string; sub: string; before: number; until: number }
  | { iss?: string; email: string; before: number; until: number };

/** One page of `GET /v1/revocations`. */
export interface RevocationFeed {
  cursor: string;
  /** A snapshot: the set is replaced, not added to. */
  reset: boolean;
  /** More pages follow: ask again from `cursor`. */
  more?: boolean;
  /** The issuer's key-set version: a new one means the JWKS changed. */
  keys?: string;
  revoked: RevocationEntry[];
}

export interface VerifierOptions {
  /** The only accepted `iss`. */
  issuer: string;
  /** The audience `aud` must contain. */
  audience: string;
  /** The keys: a JWKS object or its JSON text. */
  jwks: Jwks | string;
  /** Accepted algorithms (default: all compiled in). A token must also match its key's. */
  algorithms?: Algorithm[];
  /** Clock skew allowed on exp, nbf and iat, in seconds (default 30). */
  leewaySecs?: number;
  /** Verified tokens remembered, skipping the signature check (default 10,000; 0 turns it off). */
  cacheCapacity?: number;
}

/**
 * Synchronous verification against keys and revocations you feed it. Node
 * only: the browser and Workers entries load the lean wasm, which leaves
 * signatures to WebCrypto, and there the constructor throws `not_available`.
 */
export declare class Verifier {
  constructor(options: VerifierOptions);
  /** The claims, or throws VerifyError. `nowSecs` defaults to the clock. */
  verify(token: string, nowSecs?: number): AccessClaims;
  /** The claims of what a request presents, its DPoP proof included; or throws VerifyError. */
  verifyRequest(request: RequestLike, nowSecs?: number, options?: RequestOptions): AccessClaims;
  /** Applies one feed page (object or JSON text). */
  applyRevocations(feed: RevocationFeed | string): void;
  /** Replaces the keys. */
  setKeys(jwks: Jwks | string): void;
  /** Drops revocations that ended before `beforeSecs`; returns how many. */
  prune(beforeSecs: number): number;
  hasKid(kid: string): boolean;
  /** Where the next feed request should start; undefined before the first page. */
  readonly cursor: string | undefined;
  readonly revokedCount: number;
  /** The `kid` a token's header names, if readable. Proves nothing. */
  static peekKid(token: string): string | undefined;
}

export interface CreateVerifierOptions {
  /** Base URL of the issuer (JWKS and feed are fetched below it). */
  issuerUrl: string;
  audience: string;
  /** The `iss` tokens carry, if not `issuerUrl`. */
  issuer?: string;
  /** Revocation state older than this is synced before a token is accepted (default 1000). */
  maxAgeMs?: number;
  /** Past this age the state is refreshed in the background (default maxAgeMs / 2). */
  refreshAheadMs?: number;
  /** With the issuer unreachable, serve from the last state this long, then refuse (default 30000). */
  failAfterMs?: number;
  /** How long one request to the issuer, body included, may take (default 5000, at most failAfterMs). */
  requestTimeoutMs?: number;
  /** At most one JWKS refetch on an unknown kid per this long (default 10000, at least 1000). */
  jwksCooldownMs?: number;
  /** After a failed sync, the next attempt waits this long (default maxAgeMs, at most 1000). */
  retryAfterMs?: number;
  leewaySecs?: number;
  /** Algorithms accepted (default all compiled in). */
  algorithms?: Algorithm[];
  /** Verified tokens remembered, skipping the signature check (default 10,000; 0 turns it off). */
  cacheCapacity?: number;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** The clock, in Unix milliseconds (default Date.now), for tests that move it. */
  now?: () => number;
}

export interface SyncStatus {
  cursor: string | null;
  revoked: number;
  /** Age of the state; null before the first complete sync. */
  ageMs: number | null;
  /** The key-set version loaded, if the issuer names one. */
  keysVersion: string | null;
  /** Whether a request to the issuer is in flight. */
  syncing: boolean;
  lastError: string | null;
}

export interface VerifyCallOptions {
  /**
   * In Workers, the request's `waitUntil`, so background refreshes outlive
   * the request that started them: `{ waitUntil: (p) => ctx.waitUntil(p) }`.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
}

export interface VerifyRequestOptions extends VerifyCallOptions, RequestOptions {}

export interface SyncedVerifier {
  /** The claims, after making sure the revocation state may be trusted; or throws VerifyError. */
  verify(token: string, options?: VerifyCallOptions): Promise<AccessClaims>;
  /**
   * The claims of what a request presents: a Bearer token, or a DPoP-bound
   * token with its proof (each proof usable once here); or throws VerifyError.
   */
  verifyRequest(request: RequestLike, options?: VerifyRequestOptions): Promise<AccessClaims>;
  /** Resolves once the state may be used; rejects with `revocation_state_stale` if it cannot be. */
  ready(options?: VerifyCallOptions): Promise<void>;
  /** Pulls the feed now (or waits for the sync in flight); rejects with `revocation_state_stale` if it failed. */
  sync(options?: VerifyCallOptions): Promise<void>;
  /** Whether a key with this `kid` is loaded. */
  hasKid(kid: string): boolean;
  status(): SyncStatus;
  close(): void;
}

/** Fetches the JWKS and a feed snapshot, then keeps them fresh (DESIGN.md sync policy). */
export declare function createVerifier(options: CreateVerifierOptions): Promise<SyncedVerifier>;

/**
 * `createVerifier` without waiting for the first snapshot: returns at once,
 * and the first `verify` waits for it (within the sync policy's bounds).
 * For middleware made inside a request.
 */
export declare function createLazyVerifier(options: CreateVerifierOptions): SyncedVerifier;
