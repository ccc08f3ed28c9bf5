// The demo page: plain ESM, no bundler. Everything goes through the edge
// (this page's origin): the issuer's routes, the to-do API, the feed.
import FingerprintJS from './vendor/fp.esm.js';
import { createVerifier } from './vendor/tollgate-verifier/browser.js';
import { dpopFetch, generateDpopKey, loadDpopKey } from './vendor/tollgate-verifier/dpop-client.js';

const $ = (id) => document.getElementById(id);
const state = { tokens: null, verifier: null, refreshTimer: null };

// The device key: a non-extractable ES256 key pair made by WebCrypto and
// kept in IndexedDB. Login binds the session to it (DPoP, RFC 9449), and
// every request proves it holds it; a token copied off this device is
// useless without it.
const key = await loadDpopKey({ alg: 'ES256' });
$('device-key').textContent = `${key.alg}, thumbprint ${key.thumbprint}`;
$('device-key').dataset.jkt = key.thumbprint;

// The device: FingerprintJS's visitor id (no network: monitoring off), and
// a coarse type from the browser.
const fingerprint = await (await FingerprintJS.load({ monitoring: false })).get();
const device = {
  id: fingerprint.visitorId,
  type: /Mobi|Android|iPhone|iPad/i.test(navigator.userAgent) ? 'mobile' : 'desktop',
};
$('device').textContent = device.id;
$('device-type').textContent = device.type;
$('email').value = 'demo@example.com';

/**
 * A request through the edge with a DPoP proof of the device key (and the
 * token, if any). The provider's tokens are not bound to a key: those go
 * as Bearer tokens.
 */
async function api(method, path, body, token = state.tokens?.access_token, by = key) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const url = new URL(path, location.href).href;
  if (state.tokens?.idp && token) {
    headers.authorization = `Bearer ${token}`;
    return reply(await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  }
  const response = await dpopFetch(by, url, {
    method, headers, accessToken: token ?? undefined, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return reply(response);
}

async function reply(response) {
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { status: response.status, code: 'not_json', detail: text.slice(0, 200) };
  }
  return { status: response.status, body: parsed };
}

const decode = (part) => JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')));

function showToken() {
  const [header, claims] = state.tokens.access_token.split('.').slice(0, 2).map(decode);
  $('token-header').textContent = JSON.stringify(header, null, 2);
  $('token-claims').textContent = JSON.stringify(claims, null, 2);
  $('session-id').textContent = state.tokens.session_id;
}

// Live: re-verify in the page every second, and count down.
async function tick() {
  if (!state.tokens) return;
  const { exp } = decode(state.tokens.access_token.split('.')[1]);
  $('time-left').textContent = `${Math.max(0, exp - Math.floor(Date.now() / 1000))} s`;
  try {
    const token = state.tokens.access_token;
    // The provider's token is a plain Bearer token; ours is checked as a
    // resource server would: with a fresh proof of this device's key.
    const claims = state.tokens.idp ? await state.verifier.verify(token) : await state.verifier.verifyRequest({
      authorization: `DPoP ${token}`,
      dpop: await key.proof({ method: 'GET', url: location.href, accessToken: token }),
      method: 'GET',
      url: location.href,
    });
    const bound = claims.cnf ? `, bound to this device's key` : '';
    $('verify-result').textContent = `valid (sub ${claims.sub.slice(0, 8)}…, roles ${claims.roles.join(', ')}${bound})`;
    $('verify-result').dataset.code = '';
  } catch (error) {
    $('verify-result').textContent = `refused: ${error.code}`;
    $('verify-result').dataset.code = error.code;
  }
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  const { exp } = decode(state.tokens.access_token.split('.')[1]);
  const inMs = Math.max(1000, (exp - 30) * 1000 - Date.now());
  state.refreshTimer = setTimeout(async () => {
    const { status, body } = await api('POST', '/v1/auth/refresh', { refresh_token: state.tokens.refresh_token }, null);
    if (status === 200) {
      state.tokens = body;
      showToken();
      scheduleRefresh();
    } else {
      $('api-error').textContent = `refresh refused: ${body?.code}`;
    }
  }, inMs);
}

async function loadSessions() {
  const { status, body } = await api('GET', '/v1/sessions');
  if (status !== 200) return refused(body);
  $('sessions').replaceChildren(...body.sessions.map((session) => {
    const li = document.createElement('li');
    li.dataset.sid = session.id;
    li.className = session.current ? 'current' : '';
    li.textContent = `${session.device_type} ${session.device_id.slice(0, 10)}… since ${new Date(session.created_at * 1000).toLocaleTimeString()}${session.dpop_bound ? ', key-bound' : ''}${session.current ? ' (this device)' : ''} `;
    if (!session.current) {
      const button = document.createElement('button');
      button.className = 'link logout-session';
      button.textContent = 'log out that device';
      button.onclick = async () => {
        await api('DELETE', `/v1/sessions/${session.id}`);
        await loadSessions();
      };
      li.append(button);
    }
    return li;
  }));
}

async function loadTodos() {
  const { status, body } = await api('GET', '/api/todos');
  if (status !== 200) return refused(body);
  $('api-error').textContent = '';
  $('todos').replaceChildren(...body.map((todo) => {
    const li = document.createElement('li');
    li.className = todo.done ? 'done' : '';
    const title = document.createElement('span');
    title.textContent = todo.title;
    li.append(title);
    if (!todo.done) {
      const button = document.createElement('button');
      button.className = 'link complete';
      button.textContent = 'done';
      button.onclick = async () => {
        const reply = await api('POST', `/api/todos/${todo.id}/complete`);
        if (reply.status !== 200) return refused(reply.body);
        await loadTodos();
      };
      li.append(' ', button);
    }
    return li;
  }));
}

function refused(problem) {
  $('api-error').textContent = `The edge refused the request: ${problem?.status ?? ''} ${problem?.code ?? 'unknown'}`;
  $('api-error').dataset.code = problem?.code ?? '';
}

// After our own logout: keep asking the edge with the old token until it
// refuses, and show how long the revocation took to get there.
async function measureRevocation(token, loggedOutAt) {
  for (;;) {
    const { status, body } = await api('GET', '/api/todos', undefined, token);
    if (status !== 200) {
      $('revocation-time').textContent = `The edge refused the old token (${status} ${body?.code}) ${Math.round(performance.now() - loggedOutAt)} ms after the logout.`;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function logout(path) {
  const token = state.tokens.access_token;
  const { status, body } = await api('POST', path);
  if (status !== 204) return refused(body);
  const at = performance.now();
  clearTimeout(state.refreshTimer);
  $('verify-result').textContent = 'logged out; waiting for the edge…';
  await measureRevocation(token, at);
  await tick();
}

$('login-form').onsubmit = async (event) => {
  event.preventDefault();
  const { status, body } = await api('POST', '/v1/auth/login', {
    email: $('email').value, password: $('password').value, device,
  }, null);
  if (status !== 200) {
    $('login-error').textContent = `Login refused: ${body?.code}`;
    return;
  }
  state.tokens = body;
  await start();
  scheduleRefresh();
  await loadSessions();
};

/** Shows the app for the tokens in `state`. */
async function start() {
  state.verifier ??= await createVerifier({ issuerUrl: location.origin, issuer: 'tollgate', audience: 'tollgate-api' });
  $('login-error').textContent = '';
  $('app').hidden = false;
  for (const id of ['sessions-card', 'steal-panel']) $(id).hidden = Boolean(state.tokens.idp);
  $('idp-panel').hidden = !state.tokens.idp;
  if (state.tokens.idp) {
    $('idp-url').textContent = idp.url;
    $('idp-sub').textContent = decode(state.tokens.access_token.split('.')[1]).sub;
  }
  showToken();
  await Promise.all([tick(), loadTodos()]);
}

// Log in with Example IdP: OpenID Connect's authorization code flow with
// PKCE, straight to the provider (its own login and consent pages), then
// its token endpoint. Its access token is an RS256 JWT for the tollgate
// API, which every tollgate verifier accepts because the issuer trusts the
// provider (docs/upstream.md).
const config = await fetch('config.json').then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
const idp = config.idp ?? null;
const here = new URL('./', location.href).href;
if (idp) $('idp-login-row').hidden = false;

const random = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const sha256 = async (text) => btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

$('idp-login').onclick = async () => {
  const verifier = random();
  const nonce = random();
  sessionStorage.setItem('idp-login', JSON.stringify({ verifier, state: nonce }));
  const auth = new URL('/auth', idp.url);
  auth.search = new URLSearchParams({
    client_id: idp.clientId, response_type: 'code', scope: 'openid todo', redirect_uri: here,
    code_challenge: await sha256(verifier), code_challenge_method: 'S256', state: nonce, resource: idp.resource,
  });
  location.assign(auth.href);
};

$('idp-logout').onclick = () => {
  // RP-initiated logout at the provider; it sends its back-channel logout
  // to the issuer before it sends the browser back here.
  sessionStorage.setItem('idp-token', state.tokens.access_token);
  const end = new URL('/session/end', idp.url);
  end.search = new URLSearchParams({ client_id: idp.clientId, post_logout_redirect_uri: here, state: 'logged-out' });
  location.assign(end.href);
};

async function idpReturn() {
  const params = new URLSearchParams(location.search);
  if (!idp || !params.has('state')) return;
  history.replaceState(null, '', here);
  if (params.get('state') === 'logged-out') {
    // Back from the provider's logout: the old token, through the edge.
    const token = sessionStorage.getItem('idp-token');
    sessionStorage.removeItem('idp-token');
    if (!token) return;
    state.tokens = { access_token: token, session_id: decode(token.split('.')[1]).sid, idp: true };
    await start();
    const at = performance.now();
    for (;;) {
      const { status, body } = await api('GET', '/api/todos', undefined, token);
      if (status !== 200) {
        $('idp-revocation').textContent = `The edge refused the provider's token (${status} ${body?.code}) ${Math.round(performance.now() - at)} ms after its logout brought you back.`;
        $('idp-revocation').dataset.code = body?.code ?? '';
        await tick();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const pending = JSON.parse(sessionStorage.getItem('idp-login') ?? 'null');
  sessionStorage.removeItem('idp-login');
  if (!pending || pending.state !== params.get('state') || !params.get('code')) {
    $('login-error').textContent = 'The provider sent back no valid answer.';
    return;
  }
  const response = await fetch(new URL('/token', idp.url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: params.get('code'), redirect_uri: here,
      client_id: idp.clientId, code_verifier: pending.verifier, resource: idp.resource,
    }),
  });
  const tokens = await response.json();
  if (!response.ok) {
    $('login-error').textContent = `The provider refused: ${tokens.error}`;
    return;
  }
  const claims = decode(tokens.access_token.split('.')[1]);
  state.tokens = { access_token: tokens.access_token, session_id: claims.sid, idp: true };
  await start();
}

$('todo-form').onsubmit = async (event) => {
  event.preventDefault();
  const { status, body } = await api('POST', '/api/todos', { title: $('todo-title').value });
  if (status !== 201) return refused(body);
  $('todo-title').value = '';
  await loadTodos();
};
// "Steal this token": the same access token, sent through the edge three
// ways. From this device (with a proof of its key) it works; copied to
// somewhere without the key (as a plain Bearer token, or with a proof made
// by another key) the edge refuses it before the origin sees it.
$('steal').onclick = async () => {
  const token = state.tokens.access_token;
  const show = (id, { status, body }) => {
    $(id).textContent = status === 200 ? `${status} OK` : `${status} ${body?.code}`;
    $(id).dataset.status = String(status);
    $(id).dataset.code = body?.code ?? '';
  };
  show('steal-own', await api('GET', '/api/todos'));
  show('steal-bearer', await reply(await fetch('/api/todos', { headers: { authorization: `Bearer ${token}` } })));
  const thief = await generateDpopKey();
  show('steal-other-key', await api('GET', '/api/todos', undefined, token, thief));
};
$('logout').onclick = () => logout('/v1/auth/logout');
$('logout-all').onclick = () => logout('/v1/auth/logout-all');
setInterval(tick, 1000);
await idpReturn();
document.body.dataset.ready = 'true';
