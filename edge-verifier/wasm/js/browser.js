// Browser entry (and the default): fetches the web build (the lean one,
// signatures by WebCrypto and no synchronous Verifier, built for size)
// next to this file, with top-level await, so importing the module is enough.
import * as wasm from './tollgate_verifier_web.js';
import { bind } from './api.js';

await wasm.default({ module_or_path: new URL('./tollgate_verifier_web_bg.wasm', import.meta.url) });
bind(wasm, ['EdDSA', 'ES256', 'HS256']);

export {
  Verifier, VerifyError, createVerifier, createLazyVerifier, challenge, refusal, requestParts, ERROR_CODES,
} from './api.js';
