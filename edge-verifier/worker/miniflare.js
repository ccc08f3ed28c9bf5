// Miniflare options that run the built worker (edge-verifier/worker/build)
// in workerd, as `wrangler dev` would. Shared by the worker's tests, its
// benchmark and the demo.
import { fileURLToPath } from 'node:url';

const build = fileURLToPath(new URL('./build/', import.meta.url));

/** Options for `new Miniflare(...)` with these vars bound; `extra` adds or overrides options. */
export function workerOptions(bindings, extra = {}) {
  return {
    modules: true,
    scriptPath: `${build}index.js`,
    modulesRoot: build,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: '2025-09-01',
    bindings,
    ...extra,
  };
}
