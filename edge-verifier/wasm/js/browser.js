// Browser entry (and the default): fetches the wasm next to this file,
// with top-level await, so importing the module is enough.
import init, { Verifier as Raw, Syncer as RawSyncer, challenge as rawChallenge } from './tollgate_verifier_wasm.js';
import { bind } from './api.js';

await init({ module_or_path: new URL('./tollgate_verifier_wasm_bg.wasm', import.meta.url) });
bind(Raw, RawSyncer, rawChallenge, ['EdDSA', 'ES256', 'HS256']);

export { Verifier, VerifyError, createVerifier, challenge, requestParts, ERROR_CODES } from './api.js';
