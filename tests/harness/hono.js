// A Hono app that uses the built npm package (edge-verifier/wasm/pkg), run
// in workerd (Miniflare): bundled with esbuild under the `workerd` export
// condition, as wrangler would bundle a user's project.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { workerOptions } from './edge.js';

const pkg = fileURLToPath(new URL('../../edge-verifier/wasm/pkg/', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Bundles `source` (an ES module whose default export is the Hono app) and
 * starts it with `bindings`; `extra` adds Miniflare options (`{ host, port }`
 * for a real listener). Resolves with `{ mf, url, close }`.
 */
export async function startHonoApp(source, bindings, extra = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-hono-'));
  writeFileSync(join(dir, 'app.js'), source);
  // The built package, installed as a user's project would have it.
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(pkg, join(dir, 'node_modules/tollgate-verifier'));
  await build({
    entryPoints: [join(dir, 'app.js')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    conditions: ['workerd', 'worker'],
    mainFields: ['module', 'main'],
    nodePaths: [join(dir, 'node_modules'), join(root, 'node_modules')],
    external: ['*.wasm', 'cloudflare:*'],
    outfile: join(dir, 'out/index.js'),
    logLevel: 'error',
  });
  copyFileSync(join(pkg, 'tollgate_verifier_lean_bg.wasm'), join(dir, 'out/tollgate_verifier_lean_bg.wasm'));
  const mf = new Miniflare(workerOptions(bindings, extra, join(dir, 'out')));
  const url = String(await mf.ready).replace(/\/$/, '');
  const close = async () => {
    await mf.dispose();
    rmSync(dir, { recursive: true, force: true });
  };
  return { mf, url, close };
}
