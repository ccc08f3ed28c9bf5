// The demo page: plain ESM, no bundler. Everything goes through the edge
// (this page's origin): the issuer's routes, the to-do API, the feed.
import FingerprintJS from './vendor/fp.esm.js';
import { createVerifier } from './vendor/tollgate-verifier/browser.js';

const $ = (id) => document.getElementById(id);
const state = { tokens: null, verifier: null, refreshTimer: null };

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

async function api(method, path, body, token = state.tokens?.access_token) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
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
    const claims = await state.verifier.verify(state.tokens.access_token);
    $('verify-result').textContent = `valid (sub ${claims.sub.slice(0, 8)}…, roles ${claims.roles.join(', ')})`;
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
    li.textContent = `${session.device_type} ${session.device_id.slice(0, 10)}… since ${new Date(session.created_at * 1000).toLocaleTimeString()}${session.current ? ' (this device)' : ''} `;
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
  state.verifier ??= await createVerifier({ issuerUrl: location.origin, issuer: 'tollgate', audience: 'tollgate-api' });
  $('login-error').textContent = '';
  $('app').hidden = false;
  showToken();
  scheduleRefresh();
  await Promise.all([tick(), loadSessions(), loadTodos()]);
};

$('todo-form').onsubmit = async (event) => {
  event.preventDefault();
  const { status, body } = await api('POST', '/api/todos', { title: $('todo-title').value });
  if (status !== 201) return refused(body);
  $('todo-title').value = '';
  await loadTodos();
};
$('logout').onclick = () => logout('/v1/auth/logout');
$('logout-all').onclick = () => logout('/v1/auth/logout-all');
setInterval(tick, 1000);
document.body.dataset.ready = 'true';
