// `make demo`: starts the whole system (tests/harness/stack.js) with the
// edge on :8787 and state in .demo/, prints the URL and the demo login, and
// stops every child (issuer, origin, workerd) on Ctrl-C or SIGTERM.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_EMAIL, DEMO_PASSWORD, startStack } from '../tests/harness/stack.js';

const root = fileURLToPath(new URL('../', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // The test of Ctrl-C runs it on another directory and a free port.
  const dir = process.env.TOLLGATE_DEMO_DIR ?? join(root, '.demo');
  const edgePort = Number(process.env.TOLLGATE_DEMO_PORT ?? 8787);
  const idpPort = Number(process.env.TOLLGATE_DEMO_IDP_PORT ?? 8788);
  const stack = await startStack({ edgePort, dir, idp: true, idpPort });
  console.log(`
tollgate demo is running.

  open      ${stack.edgeUrl}/demo/
  log in as ${DEMO_EMAIL} / ${DEMO_PASSWORD}
  or with    "Log in with Example IdP" (any name, any password)

  edge (workerd)  ${stack.edgeUrl}
  issuer          ${stack.issuerUrl}
  to-do origin    ${stack.originUrl}
  Example IdP     ${stack.idp.url}  (oidc-provider, an upstream the issuer trusts)

Open it in two browsers (or a private window) to be two devices.
Ctrl-C stops everything.`);
  // Miniflare's own exit hook answers SIGINT and SIGTERM with
  // process.exit(130 / 143) at once, which left the issuer and the origin
  // running: this process stops everything itself, then exits 0.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping...');
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
