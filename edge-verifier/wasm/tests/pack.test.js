// `npm pack` gives a tarball that installs into an empty project and works
// there, with nothing but Node; and that passes the checks its users run on
// packages: publint (strict) and Are the Types Wrong (ESM-only profile:
// the package is ESM, so a CommonJS `require` is refused by design).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { keys, mint } from './support.js';

const pkg = fileURLToPath(new URL('../pkg', import.meta.url));
const bin = (name) => fileURLToPath(new URL(`../../../node_modules/.bin/${name}`, import.meta.url));

test('the packed tarball installs into an empty directory and verifies a token', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pack-'));
  try {
    execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: pkg });
    const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote no tarball');
    // Both exit non-zero on a problem; their report is the failure message.
    for (const [tool, args] of [['publint', ['--strict']], ['attw', ['--profile', 'esm-only']]]) {
      try {
        execFileSync(bin(tool), [...args, join(dir, tarball)], { encoding: 'utf8', stdio: 'pipe' });
      } catch (error) {
        assert.fail(`${tool} refused the tarball:\n${error.stdout}${error.stderr}`);
      }
    }
    const app = join(dir, 'app');
    execFileSync('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--silent', '--offline', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: app });

    const keySet = await keys();
    const token = await mint(keySet, { claims: { email: 'packed@example.com' } });
    writeFileSync(join(app, 'check.js'), `
      import { Verifier, VerifyError } from 'tollgate-verifier';
      const v = new Verifier({ issuer: 'tollgate', audience: 'tollgate-api', jwks: ${JSON.stringify(keySet.jwks)} });
      const claims = v.verify(${JSON.stringify(token)});
      let code;
      try { v.verify('x'); } catch (e) { code = e instanceof VerifyError && e.code; }
      console.log(JSON.stringify({ email: claims.email, code }));
    `);
    const out = JSON.parse(execFileSync('node', ['check.js'], { cwd: app, encoding: 'utf8' }));
    assert.deepEqual(out, { email: 'packed@example.com', code: 'malformed' });
    const files = execFileSync('npm', ['ls', '--parseable', '--all'], { cwd: app, encoding: 'utf8' }).trim().split('\n');
    assert.equal(files.length, 2, `the package has no dependencies: ${files}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
