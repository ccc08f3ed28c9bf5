// HTTP/1.1 written by hand on a fresh socket, for what a fetch client
// would tidy up first: a path sent byte for byte (dot segments, encoded
// slashes, `;`), header names with `_`, and a client that hangs up.
import { connect } from 'node:net';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function requestText(url, { method = 'GET', path = '/', headers = {} }) {
  const { host } = new URL(url);
  const lines = [`${method} ${path} HTTP/1.1`, `host: ${host}`, 'connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Sends one request exactly as given; resolves with `{ status, headers,
 * body }` (header names lower-cased, the body as text, parsed if JSON).
 */
export function rawRequest(url, request) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks = [];
    let done = false;
    // Resolves as soon as the whole answer is in (by its length, or its
    // last chunk), whether or not the server closes the connection.
    const finish = (final) => {
      if (done) return;
      const answer = parse(Buffer.concat(chunks).toString('latin1'), final);
      if (!answer) {
        if (final) {
          done = true;
          reject(new Error(`no complete answer in ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 80))}`));
        }
        return;
      }
      done = true;
      socket.destroy();
      resolve(answer);
    };
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      finish(false);
    });
    socket.on('error', (error) => {
      if (!done) {
        done = true;
        reject(error);
      }
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(requestText(url, request));
  });
}

/** The answer in `text` if it is complete (or `final`: the connection ended), else `null`. */
function parse(text, final) {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...headerLines] = text.slice(0, end).split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  if (!Number.isInteger(status)) return null;
  const headers = {};
  for (const line of headerLines) {
    const at = line.indexOf(':');
    headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  let body = text.slice(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    if (!body.includes('\r\n0\r\n\r\n') && !body.startsWith('0\r\n\r\n')) {
      if (!final) return null;
    }
    body = unchunk(body);
  } else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (Buffer.byteLength(body, 'latin1') < length) {
      if (!final) return null;
    }
    body = body.slice(0, length);
  } else if (!final && status !== 204 && status !== 304) {
    return null;
  }
  try { body = JSON.parse(body); } catch { /* not JSON */ }
  return { status, headers, body };
}

function unchunk(text) {
  let out = '';
  let rest = text;
  for (;;) {
    const at = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, at), 16);
    if (!size) return out;
    out += rest.slice(at + 2, at + 2 + size);
    rest = rest.slice(at + 2 + size + 2);
  }
}

/** Sends the request, then destroys the socket after `afterMs` without reading anything. */
export async function hangUp(url, request, afterMs = 30) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(requestText(url, request));
  await sleep(afterMs);
  socket.destroy();
}
