// A TypeScript user of the npm package: every documented function called as
// documented, and lines that must not type-check (`@ts-expect-error` fails
// the check if the line below it does compile). Run by `make test` with
// `tsc --noEmit -p tests/types`.
import { Hono } from 'hono';
import {
  ERROR_CODES,
  Verifier,
  VerifyError,
  createVerifier,
  type AccessClaims,
  type RevocationFeed,
  type SyncStatus,
  type VerifyErrorCode,
} from 'tollgate-verifier';
import { tollgate, type TollgateVariables } from 'tollgate-verifier/hono';

const jwks = { keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'k1', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }] };

export async function everyCall(token: string): Promise<string[]> {
  const verifier = new Verifier({ issuer: 'tollgate', audience: 'api', jwks, algorithms: ['EdDSA'], leewaySecs: 30, cacheCapacity: 0 });
  const claims: AccessClaims = verifier.verify(token, 1_763_820_000);
  const page: RevocationFeed = { cursor: 'e:1:ab', reset: true, more: false, keys: '1', revoked: [{ sid: claims.sid ?? 'none', until: 1 }, { iss: 'https://idp.example', sub: claims.sub, before: claims.iat, until: 2 }] };
  verifier.applyRevocations(page);
  verifier.applyRevocations(JSON.stringify(page));
  verifier.setKeys(jwks);
  const pruned: number = verifier.prune(1_763_820_000);
  const known: boolean = verifier.hasKid('k1');
  const cursor: string | undefined = verifier.cursor;
  const held: number = verifier.revokedCount;
  const kid: string | undefined = Verifier.peekKid(token);

  const synced = await createVerifier({
    issuerUrl: 'https://issuer.example', audience: 'api', issuer: 'tollgate',
    maxAgeMs: 1000, refreshAheadMs: 100, failAfterMs: 30_000, requestTimeoutMs: 5000,
    jwksCooldownMs: 10_000, leewaySecs: 30, algorithms: ['EdDSA', 'ES256'], fetch,
  });
  const again: AccessClaims = await synced.verify(token, { waitUntil: (p) => void p });
  await synced.sync();
  const status: SyncStatus = synced.status();
  const loaded: boolean = synced.hasKid('k1');
  synced.close();

  try {
    verifier.verify('x');
  } catch (error) {
    if (error instanceof VerifyError) {
      const code: string = error.code;
      return [code];
    }
  }
  const codes: readonly VerifyErrorCode[] = ERROR_CODES;
  return [again.sub, String(pruned), String(known), cursor ?? '', String(held), kid ?? '', String(status.ageMs), String(loaded), ...codes];
}

const app = new Hono<{ Variables: TollgateVariables }>();
app.use('/api/*', tollgate({ issuerUrl: 'https://issuer.example', audience: 'api', cookie: 'access_token' }));
app.use('/open/*', tollgate(() => ({ issuerUrl: 'https://issuer.example', audience: 'api', allowAnonymous: true })));
app.get('/api/me', (c) => c.json({ sub: c.get('tollgate').sub, roles: c.get('tollgate').roles }));

// What must not compile:
// @ts-expect-error the issuer is a string
new Verifier({ issuer: 1, audience: 'api', jwks });
// @ts-expect-error a JWKS is required
new Verifier({ issuer: 'tollgate', audience: 'api' });
// @ts-expect-error an algorithm outside the allowlist
new Verifier({ issuer: 'tollgate', audience: 'api', jwks, algorithms: ['none'] });
// @ts-expect-error createVerifier needs an issuerUrl
void createVerifier({ audience: 'api' });
// @ts-expect-error verify takes a string
new Verifier({ issuer: 'tollgate', audience: 'api', jwks }).verify(42);
// @ts-expect-error the claims have no such field
app.get('/api/bad', (c) => c.json({ x: c.get('tollgate').password }));
// @ts-expect-error allowAnonymous is a boolean
tollgate({ issuerUrl: 'https://issuer.example', audience: 'api', allowAnonymous: 'yes' });
