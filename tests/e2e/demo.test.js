// The demo in headless Chromium: two browser contexts are two devices.
// Screenshots of the key states go to target/demo-screenshots/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { DEMO_PASSWORD, startStack } from '../harness/stack.js';

const shots = fileURLToPath(new URL('../../target/demo-screenshots/', import.meta.url));
let stack;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  stack = await startStack({ idp: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** A device: its own context (profile), with a different screen and browser build so FingerprintJS tells them apart. */
async function device(name, { width, userAgent, timezoneId }) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, userAgent, timezoneId, locale: name === 'one' ? 'en-US' : 'de-DE' });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${name}] ${error}`));
  await page.goto(`${stack.edgeUrl}/demo/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('#login');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.getElementById('verify-result').textContent.startsWith('valid'));
  return { page, context, id: await page.textContent('#device') };
}

const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

test('device 2 logs device 1 out; the edge refuses device 1 within a second; log out everywhere ends device 2', async () => {
  const one = await device('one', { width: 1280, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36 DeviceOne', timezoneId: 'Europe/London' });
  const two = await device('two', { width: 1024, userAgent: 'Mozilla/5.0 (Macintosh) Chrome/155.0 Safari/537.36 DeviceTwo', timezoneId: 'America/New_York' });
  assert.notEqual(one.id, two.id, 'the two devices have different fingerprints');

  // Device 1 uses the to-do API through the edge.
  await one.page.fill('#todo-title', 'buy milk');
  await one.page.click('#todo-add');
  await one.page.waitForSelector('#todos li >> text=buy milk');
  await one.page.click('#todos li .complete');
  await one.page.waitForSelector('#todos li.done');
  await shot(one.page, '1-device-one-logged-in');

  // The session is bound to device 1's key, which survives a reload
  // (IndexedDB); the token works from device 1 only.
  const jkt = await one.page.getAttribute('#device-key', 'data-jkt');
  assert.match(jkt, /^[A-Za-z0-9_-]{43}$/);
  assert.match(await one.page.textContent('#verify-result'), /bound to this device's key/);
  const claims = JSON.parse(await one.page.textContent('#token-claims'));
  assert.equal(claims.cnf.jkt, jkt, 'the access token is bound to the page key');
  await one.page.click('#steal');
  await one.page.waitForFunction(() => document.getElementById('steal-other-key').dataset.status !== '');
  assert.equal(await one.page.getAttribute('#steal-own', 'data-status'), '200');
  for (const id of ['#steal-bearer', '#steal-other-key']) {
    assert.equal(await one.page.getAttribute(id, 'data-status'), '401', id);
    assert.equal(await one.page.getAttribute(id, 'data-code'), 'invalid_dpop_proof', id);
  }
  await shot(one.page, '1b-device-one-stolen-token-refused');

  // Device 2 sees both sessions, and logs device 1 out.
  const twoKey = await two.page.getAttribute('#device-key', 'data-jkt');
  await two.page.reload();
  await two.page.waitForSelector('body[data-ready="true"]');
  assert.equal(await two.page.getAttribute('#device-key', 'data-jkt'), twoKey, 'the key survives a reload (IndexedDB)');
  assert.notEqual(twoKey, jkt, 'each device has its own key');
  await two.page.fill('#password', DEMO_PASSWORD);
  await two.page.click('#login');
  await two.page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 2);
  assert.equal(await two.page.locator('#sessions li.current').count(), 1);
  await shot(two.page, '2-device-two-sees-both-sessions');
  await two.page.click('#sessions li:not(.current) .logout-session');
  const loggedOut = Date.now();
  await two.page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 1);

  // Device 1's next to-do call is refused by the edge, and the page says so.
  let refusedAt;
  for (;;) {
    await one.page.fill('#todo-title', `try ${Date.now()}`);
    await one.page.click('#todo-add');
    await one.page.waitForTimeout(100);
    const error = await one.page.textContent('#api-error');
    if (error.includes('revoked')) {
      refusedAt = Date.now();
      break;
    }
    assert.ok(Date.now() - loggedOut < 1500, 'device 1 still accepted well past the 1 s max age');
  }
  assert.ok(refusedAt - loggedOut < 1500, `refused after ${refusedAt - loggedOut} ms`);
  assert.match(await one.page.textContent('#api-error'), /The edge refused the request: 401 revoked/);
  await one.page.waitForFunction(() => document.getElementById('verify-result').dataset.code === 'revoked');
  await shot(one.page, '3-device-one-refused-by-the-edge');

  // Device 2 still works.
  await two.page.fill('#todo-title', 'still here');
  await two.page.click('#todo-add');
  await two.page.waitForSelector('#todos li >> text=still here');

  // Log out everywhere ends device 2 too; the page shows how long the edge took.
  await two.page.click('#logout-all');
  await two.page.waitForFunction(() => document.getElementById('revocation-time').textContent.includes('refused the old token'));
  const message = await two.page.textContent('#revocation-time');
  const ms = Number(message.match(/(\d+) ms after/)[1]);
  assert.ok(ms <= 1500, message);
  await shot(two.page, '4-device-two-logged-out-everywhere');
  await one.context.close();
  await two.context.close();
});

test('Log in with Example IdP (oidc-provider), log out there: the edge refuses the page\'s token within a second', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // The provider's pages import a web font; nothing leaves this machine.
  await context.route((url) => !url.hostname.startsWith('127.0.0.1'), (route) => route.abort());
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[idp] ${error}`));
  await page.goto(`${stack.edgeUrl}/demo/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#idp-login');
  // The provider's own login and consent pages.
  await page.waitForURL(`${stack.idp.url}/interaction/**`);
  await page.fill('input[name="login"]', 'ada');
  await page.fill('input[name="password"]', 'anything');
  await page.click('button[type="submit"]');
  await page.waitForSelector('button >> text=Continue');
  await page.click('button >> text=Continue');
  // Back at the demo: verified in the page, and through the edge to the origin.
  await page.waitForSelector('#idp-panel:not([hidden])');
  await page.waitForFunction(() => document.getElementById('verify-result').textContent.startsWith('valid'));
  const claims = JSON.parse(await page.textContent('#token-claims'));
  assert.equal(claims.iss, stack.idp.url);
  assert.equal(claims.sub, 'ada');
  assert.equal(JSON.parse(await page.textContent('#token-header')).alg, 'RS256');
  await page.fill('#todo-title', 'a to-do of an IdP user');
  await page.click('#todo-add');
  await page.waitForSelector('#todos li >> text=a to-do of an IdP user');
  await shot(page, '5-idp-user-logged-in');

  // Log out at the provider (its confirmation page); its back-channel
  // logout reaches the issuer before it sends the browser back.
  await page.click('#idp-logout');
  await page.waitForURL(`${stack.idp.url}/session/end**`);
  await page.click('button[value="yes"]');
  await page.waitForFunction(() => document.getElementById('idp-revocation').textContent.includes('refused'), null, { timeout: 5000 });
  const message = await page.textContent('#idp-revocation');
  assert.match(message, /401 revoked/);
  const ms = Number(message.match(/\) (\d+) ms after/)[1]);
  assert.ok(ms <= 1000, message);
  await page.waitForFunction(() => document.getElementById('verify-result').dataset.code === 'revoked');
  await shot(page, '6-idp-logout-refused-at-the-edge');
  await context.close();
});
