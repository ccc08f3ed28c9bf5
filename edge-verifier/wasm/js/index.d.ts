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
  | 'revocation_state_stale';

/** Codes for misuse rather than a bad token. */
export type UsageErrorCode =
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

export type Algorithm = 'EdDSA' | 'ES256' | 'HS256' | 'RS256';

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
}

/** The claims of a verified tollgate access token (RFC 9068 profile). */
export interface AccessClaims {
  iss: string;
  /** The user's UUID. */
  sub: string;
  aud: string | string[];
  iat: number;
  exp: number;
  nbf?: number;
  /** Token id (UUID). */
  jti: string;
  /** Device-session id (UUID): logging the device out revokes it. */
  sid: string;
  roles: string[];
  email?: string;
}

/** One revocation: a device session or a single token, until a Unix time. */
export type RevocationEntry = { sid: string; until: number } | { jti: string; until: number };

/** One page of `GET /v1/revocations`. */
export interface RevocationFeed {
  cursor: string;
  /** A snapshot: the set is replaced, not added to. */
  reset: boolean;
  /** More pages follow: ask again from `cursor`. */
  more?: boolean;
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

/** Synchronous verification against keys and revocations you feed it. */
export declare class Verifier {
  constructor(options: VerifierOptions);
  /** The claims, or throws VerifyError. `nowSecs` defaults to the clock. */
  verify(token: string, nowSecs?: number): AccessClaims;
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
  /** With the issuer unreachable, serve from the last state this long, then refuse (default 30000). */
  failAfterMs?: number;
  /** At most one JWKS refetch on an unknown kid per this long (default 30000). */
  jwksCooldownMs?: number;
  leewaySecs?: number;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
}

export interface SyncStatus {
  cursor: string | undefined;
  revoked: number;
  ageMs: number;
  lastError: string | null;
}

export interface SyncedVerifier {
  /** The claims, after making sure the revocation state is fresh; or throws VerifyError. */
  verify(token: string): Promise<AccessClaims>;
  /** Pulls the feed now. */
  sync(): Promise<void>;
  status(): SyncStatus;
  close(): void;
  readonly verifier: Verifier;
}

/** Fetches the JWKS and a feed snapshot, then keeps them fresh (DESIGN.md sync policy). */
export declare function createVerifier(options: CreateVerifierOptions): Promise<SyncedVerifier>;
