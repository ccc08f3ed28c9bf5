// Types for `tollgate-verifier/dpop-client`: DPoP proofs (RFC 9449) from a
// page, with a key pair whose private half cannot be exported.

/** The public half of a DPoP key, as it goes into a proof's `jwk` header. */
export interface PublicJwk {
  kty: 'EC' | 'OKP';
  crv: 'P-256' | 'Ed25519';
  x: string;
  y?: string;
}

export interface ProofOptions {
  /** The request method, e.g. `GET`. */
  method: string;
  /** The request URL; its query and fragment are left out of `htu`. */
  url: string;
  /** The access token sent with the request: its hash becomes `ath`. */
  accessToken?: string;
  /** The server's nonce (default: the last one this origin sent). */
  nonce?: string;
}

export declare class DpopKey {
  private constructor();
  /** `ES256` or `EdDSA`. */
  readonly alg: 'ES256' | 'EdDSA';
  readonly publicJwk: PublicJwk;
  /** The RFC 7638 thumbprint: the `cnf.jkt` of tokens bound to this key. */
  readonly thumbprint: string;
  readonly keyPair: CryptoKeyPair;
  /** A proof for one request. */
  proof(options: ProofOptions): Promise<string>;
  /** Remembers the `DPoP-Nonce` a response from `url`'s origin carried. */
  rememberNonce(url: string, response: Response): void;
}

/** The RFC 7638 thumbprint of a public JWK. */
export declare function thumbprint(jwk: PublicJwk): Promise<string>;

/** A new non-extractable key pair (ES256 by default; EdDSA where the browser has Ed25519). */
export declare function generateDpopKey(options?: { alg?: 'ES256' | 'EdDSA' }): Promise<DpopKey>;

/** The page's key `name`, made on first use and kept in IndexedDB. */
export declare function loadDpopKey(options?: { name?: string; alg?: 'ES256' | 'EdDSA' }): Promise<DpopKey>;

/** Forgets the stored key `name`. */
export declare function forgetDpopKey(options?: { name?: string }): Promise<void>;

export interface DpopFetchInit extends RequestInit {
  /** Sent as `Authorization: DPoP <token>`, and hashed into the proof. */
  accessToken?: string;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/** `fetch` with a DPoP proof; retries once when the server asks for a nonce. */
export declare function dpopFetch(key: DpopKey, url: string, init?: DpopFetchInit): Promise<Response>;
