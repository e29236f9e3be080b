// The second-factor screens in a real browser: Debian's chromium, driven by playwright-core, against a
// real Rampart server. An account turns on an authenticator app (codes computed from the secret the
// page shows, as a phone would), signs in with a code, adds a passkey (Chrome's virtual
// authenticator, through the DevTools protocol) and signs in with the passkey alone.
//
// Run: RAMPART_BIN=target/debug/rampart node --test tests/browser   (after `npm ci` in tests/browser)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '../..');
const BINARY = resolve(ROOT, process.env.RAMPART_BIN || 'target/debug/rampart');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTEFACTS = resolve(ROOT, 'target/browser');

let server;
let browser;
let origin;

function freePort() {
  return new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

before(async () => {
  const port = await freePort();
  // localhost, not 127.0.0.1: WebAuthn needs a domain name, and localhost is a secure context.
  origin = `http://localhost:${port}`;
  const data = mkdtempSync(join(tmpdir(), 'rampart-browser-'));
  server = spawn(BINARY, ['serve'], {
    env: {
      PATH: process.env.PATH,
      RAMPART_DATA_DIR: data,
      RAMPART_BIND: `127.0.0.1:${port}`,
      RAMPART_PUBLIC_ORIGIN: origin,
      RAMPART_AUTH__ARGON2__MEMORY_KIB: '1024',
      RAMPART_AUTH__ARGON2__ITERATIONS: '1',
      RAMPART_LOG__LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let tries = 0; ; tries += 1) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
    } catch (_) {
      // not listening yet
    }
    if (tries > 200) throw new Error('rampart did not become ready');
    await new Promise((r) => setTimeout(r, 50));
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  mkdirSync(ARTEFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

function fromBase32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

// RFC 6238 with the parameters the server uses: HMAC-SHA1, six digits, 30-second steps.
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', fromBase32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  const binary = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(binary % 1_000_000).padStart(6, '0');
}

const step = () => Math.floor(Date.now() / 1000 / 30);

// The screens live in the app's settings and sign-in views now; these helpers get there by the links a
// person would use.
async function signOut(page) {
  await page.click('#sign-out');
  await page.locator('#message').filter({ hasText: 'You are signed out.' }).waitFor();
  await page.click('nav a[href="/sign-in"]');
  await page.locator('#sign-in-form').waitFor();
}

async function openSecurity(page) {
  await page.click('nav a[href="/settings"]');
  await page.click('.settings-nav a[href="/settings/security"]');
  await page.locator('#mfa-status').filter({ hasNotText: 'Loading' }).waitFor();
}

test('an account turns on an authenticator app and a passkey, and signs in with each', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('response', (r) => r.status() === 404 && problems.push(`404 ${r.url()}`));

  await page.goto(`${origin}/register`);
  const form = page.locator('#register-form');
  await form.locator('input[name=username]').fill('browser_ann');
  await form.locator('input[name=email]').fill('ann@example.com');
  await form.locator('input[name=password]').fill('a long enough passphrase');
  await form.locator('button[type=submit]').click();
  await page.locator('#whoami-name').filter({ hasText: '@browser_ann' }).waitFor();
  await openSecurity(page);
  await page.locator('#mfa-status').filter({ hasText: 'Off' }).waitFor();

  // The authenticator app: the QR code and key are shown once; the first code turns it on.
  await page.click('#mfa-enrol');
  await page.locator('#mfa-enrolment').waitFor();
  assert.match(await page.getAttribute('#mfa-qr', 'src'), /^data:image\/svg\+xml/);
  const secret = (await page.textContent('#mfa-secret')).trim();
  assert.equal(secret.length, 32);
  const confirmedAt = step();
  await page.fill('#mfa-confirm-form input[name=code]', totp(secret, confirmedAt));
  await page.click('#mfa-confirm-form button[type=submit]');
  await page.locator('#mfa-codes').waitFor();
  assert.equal(await page.locator('#mfa-code-list li').count(), 10);
  await page.locator('#mfa-status').filter({ hasText: 'Recovery codes left: 10' }).waitFor();
  await page.screenshot({ path: join(ARTEFACTS, 'second-factors-enrolled.png'), fullPage: true });

  // Signing in now asks for a code after the password.
  await signOut(page);
  await page.fill('#sign-in-form input[name=login]', 'browser_ann');
  await page.fill('#sign-in-form input[name=password]', 'a long enough passphrase');
  await page.click('#sign-in-form button[type=submit]');
  await page.locator('#second-factor').waitFor();
  await page.fill('#second-factor-form input[name=code]', totp(secret, confirmedAt + 1));
  await page.click('#second-factor-form button[type=submit]');
  await page.locator('#whoami-name').filter({ hasText: '@browser_ann' }).waitFor();
  await openSecurity(page);

  // A passkey, made by Chrome's virtual authenticator with user verification.
  const devtools = await context.newCDPSession(page);
  await devtools.send('WebAuthn.enable');
  await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await page.fill('#passkey-add-form input[name=name]', 'Browser key');
  await page.click('#passkey-add-form button[type=submit]');
  await page.locator('#passkey-list .name').filter({ hasText: 'Browser key' }).waitFor();

  // Renaming happens in place: Escape leaves the name as it was, Save changes it and focus returns
  // to the renamed passkey's button.
  await page.click('button[aria-label="Rename the passkey Browser key"]');
  await page.keyboard.press('Escape');
  await page.locator('#passkey-list .name').filter({ hasText: 'Browser key' }).waitFor();
  await page.click('button[aria-label="Rename the passkey Browser key"]');
  const field = page.locator('#passkey-list input[name=name]');
  assert.equal(await field.evaluate((input) => input === document.activeElement), true, 'the field has focus');
  await field.fill('Laptop key');
  await page.click('#passkey-list .passkey-rename button[type=submit]');
  await page.locator('#passkey-list .name').filter({ hasText: 'Laptop key' }).waitFor();
  await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Rename the passkey Laptop key');

  // And the passkey alone signs in.
  await signOut(page);
  await page.click('#passkey-sign-in');
  await page.locator('#whoami-name').filter({ hasText: '@browser_ann' }).waitFor();
  await openSecurity(page);
  await page.locator('#passkey-list .used').filter({ hasText: 'last used' }).waitFor();
  await page.screenshot({ path: join(ARTEFACTS, 'second-factors-passkey.png'), fullPage: true });

  assert.deepEqual(problems, [], 'no script error and no policy violation');
  await context.close();
});
