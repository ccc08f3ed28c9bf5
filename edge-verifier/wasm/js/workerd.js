// Workers entry: Workers cannot compile wasm from bytes at run time, so the
// module is imported (wrangler and Miniflare load `.wasm` imports compiled).
// The lean build: signatures by WebCrypto, no synchronous Verifier.
import wasmModule from './tollgate_verifier_lean_bg.wasm';
import * as wasm from './tollgate_verifier_lean.js';
import { bind } from './api.js';

wasm.initSync({ module: wasmModule });
bind(wasm, ['EdDSA', 'ES256', 'HS256']);

export {
  Verifier, VerifyError, createVerifier, createLazyVerifier, challenge, refusal, requestParts, ERROR_CODES,
} from './api.js';
