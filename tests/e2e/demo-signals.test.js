// `make demo` runs `node web-demo/stack.js`. Ctrl-C (SIGINT to the whole
// process group, as a terminal sends it), or SIGINT or SIGTERM sent to the
// node process alone, must stop every child it started (issuer, origin,
// workerd) and exit 0.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Every process below `pid`, recursively. */
function descendants(pid) {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const children = out.split('\n').filter(Boolean).map(Number);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function demo() {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-demo-signals-'));
  const child = spawn(process.execPath, [join(root, 'web-demo/stack.js')], {
    cwd: root,
    detached: true, // its own process group, like a terminal job
    env: { ...process.env, TOLLGATE_DEMO_DIR: dir, TOLLGATE_DEMO_PORT: '0', TOLLGATE_DEMO_IDP_PORT: '0', RUST_LOG: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    child.once('exit', () => reject(new Error('the demo exited before it was up')));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('Ctrl-C stops everything')) resolve();
    });
  });
  const started = descendants(child.pid);
  assert.ok(started.length >= 3, `issuer, origin and workerd are running: ${started}`);
  return { child, exited, started, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

for (const [name, send] of [
  ['SIGINT to the process group (Ctrl-C)', (child) => process.kill(-child.pid, 'SIGINT')],
  ['SIGINT to the node process alone', (child) => child.kill('SIGINT')],
  ['SIGTERM to the node process alone', (child) => child.kill('SIGTERM')],
]) {
  test(`${name} stops every child and exits 0`, async () => {
    const { child, exited, started, cleanup } = await demo();
    try {
      send(child);
      const result = await Promise.race([
        exited,
        new Promise((resolve) => setTimeout(() => resolve({ timedOut: true }), 15_000)),
      ]);
      assert.deepEqual(result, { code: 0, signal: null }, 'the demo exits 0');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const left = started.filter(alive);
      assert.deepEqual(left, [], 'no child is left running');
    } finally {
      for (const pid of [child.pid, ...started]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      cleanup();
    }
  });
}
