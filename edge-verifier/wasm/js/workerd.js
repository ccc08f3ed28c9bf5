// Workers entry: Workers cannot compile wasm from bytes at run time, so the
// module is imported (wrangler and Miniflare load `.wasm` imports compiled).
import wasmModule from './tollgate_verifier_wasm_bg.wasm';
import { initSync, Verifier as Raw, Syncer as RawSyncer, challenge as rawChallenge } from './tollgate_verifier_wasm.js';
import { bind } from './api.js';

initSync({ module: wasmModule });
bind(Raw, RawSyncer, rawChallenge, ['EdDSA', 'ES256', 'HS256']);

export { Verifier, VerifyError, createVerifier, challenge, requestParts, ERROR_CODES } from './api.js';
