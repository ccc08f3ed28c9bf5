// Types for `tollgate-verifier/hono`. Hono's own types are only referenced,
// so this package does not depend on them being installed.
import type { MiddlewareHandler, Context } from 'hono';
import type { AccessClaims, CreateVerifierOptions } from './index.js';

export interface TollgateHonoOptions extends CreateVerifierOptions {
  /** Also read the token from this cookie when there is no Authorization header. */
  cookie?: string;
  /** Let requests without a token through (with no `tollgate` claims) instead of 401 `missing_token`. */
  allowAnonymous?: boolean;
  /** The origin clients address, if not the request's own (a proxy in front), for DPoP proofs' `htu`. */
  publicUrl?: string;
}

/** What the middleware sets on the context. */
export type TollgateVariables = { tollgate: AccessClaims };

/**
 * Verifies the request's access token (Authorization: Bearer, else the
 * `cookie`) with revocation and a fail-closed policy; sets `c.get('tollgate')`.
 * Refusals are problem+json: 401 with `WWW-Authenticate`, or 503
 * `revocation_state_stale`.
 */
export declare function tollgate(
  options: TollgateHonoOptions | ((c: Context) => TollgateHonoOptions),
): MiddlewareHandler<{ Variables: TollgateVariables }>;
