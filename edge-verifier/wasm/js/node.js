// Node entry: reads the wasm next to this file and compiles it synchronously.
import { readFileSync } from 'node:fs';
import * as wasm from './tollgate_verifier_wasm.js';
import { bind } from './api.js';

wasm.initSync({ module: readFileSync(new URL('./tollgate_verifier_wasm_bg.wasm', import.meta.url)) });
bind(wasm, ['ES256']);

export {
  Verifier, VerifyError, createVerifier, createLazyVerifier, challenge, refusal, requestParts, ERROR_CODES,
} from './api.js';
