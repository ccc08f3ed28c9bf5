// A `fetch` for createVerifier that answers as an issuer with this JWKS and
// an empty revocation log would, without a socket: benchmarks time the
// verification, not the network. Runs in Node and in workerd.
export function staticIssuerFetch(jwks) {
  const feed = { cursor: 'bench:0', reset: true, more: false, keys: '1', revoked: [] };
  return async (url) => {
    const body = String(url).includes('/.well-known/jwks.json') ? jwks : feed;
    return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
  };
}
