// Browser entry (and the default): fetches the wasm next to this file,
// with top-level await, so importing the module is enough.
import init, { Verifier as Raw } from './tollgate_verifier_wasm.js';
import { bind } from './api.js';

await init({ module_or_path: new URL('./tollgate_verifier_wasm_bg.wasm', import.meta.url) });
bind(Raw);

export { Verifier, VerifyError, createVerifier, ERROR_CODES } from './api.js';
