// Node entry: reads the wasm next to this file and compiles it synchronously.
import { readFileSync } from 'node:fs';
import { initSync, Verifier as Raw, Syncer as RawSyncer, challenge as rawChallenge } from './tollgate_verifier_wasm.js';
import { bind } from './api.js';

initSync({ module: readFileSync(new URL('./tollgate_verifier_wasm_bg.wasm', import.meta.url)) });
bind(Raw, RawSyncer, rawChallenge, ['ES256']);

export { Verifier, VerifyError, createVerifier, challenge, requestParts, ERROR_CODES } from './api.js';
