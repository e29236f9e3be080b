// What every browser test needs: a real Rampart server on a free port with its own data folder, the
// mail it wrote (the file transport's .eml files), accounts made the way a person makes them, Debian's
// chromium, pages that record every console error, policy violation and 404, an axe-core scan, and
// screenshots under target/browser/.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BINARY = resolve(ROOT, process.env.RAMPART_BIN || 'target/debug/rampart');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTEFACTS = resolve(ROOT, 'target/browser');
export const PASSWORD = 'a long enough passphrase';

export const DESKTOP = { viewport: { width: 1280, height: 800 } };
export const MOBILE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

// Starts `rampart serve` on a fresh data folder and waits (up to a minute: CI machines are busy) until
// /readyz answers. The origin uses
// localhost, not 127.0.0.1: WebAuthn needs a domain name, and localhost is a secure context.
export async function startServer({ env = {} } = {}) {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-browser-'));
  const serverEnv = {
    PATH: process.env.PATH,
    RAMPART_DATA_DIR: dataDir,
    RAMPART_BIND: `127.0.0.1:${port}`,
    RAMPART_PUBLIC_ORIGIN: origin,
    RAMPART_AUTH__ARGON2__MEMORY_KIB: '1024',
    RAMPART_AUTH__ARGON2__ITERATIONS: '1',
    RAMPART_LOG__LEVEL: 'warn',
    // Several servers run in one suite: metrics on a port of their own each, never the fixed default.
    RAMPART_METRICS__BIND: '127.0.0.1:0',
    ...(process.env.RAMPART_DEV_WEB_DIR ? { RAMPART_DEV_WEB_DIR: process.env.RAMPART_DEV_WEB_DIR } : {}),
    ...env,
  };
  // With RAMPART_TEST_LOG_DIR (.ci/test sets it) the server logs as production does, JSON at info,
  // into that folder, where the scan of the whole run looks for secrets (tests/api/log_scan.rs).
  let output = 'inherit';
  const logDir = process.env.RAMPART_TEST_LOG_DIR;
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    output = openSync(join(logDir, `browser-${process.pid}-${port}.jsonl`), 'a');
    serverEnv.RAMPART_LOG__LEVEL = 'info';
    serverEnv.RAMPART_LOG__FORMAT = 'json';
  }
  const child = spawn(BINARY, ['serve'], { env: serverEnv, stdio: ['ignore', output, output] });
  let exited = null;
  child.on('exit', (code) => {
    exited = code;
  });
  for (let tries = 0; ; tries += 1) {
    if (exited !== null) throw new Error(`rampart exited with ${exited} before it was ready`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
    } catch (_) {
      // not listening yet
    }
    if (tries > 1200) throw new Error('rampart did not become ready');
    await sleep(50);
  }
  mkdirSync(ARTEFACTS, { recursive: true });
  return {
    origin,
    dataDir,
    env: serverEnv,
    bin: BINARY,
    stop: () => child.kill('SIGTERM'),
  };
}

// The text of a message's plain part, undoing quoted-printable or base64 transfer encoding.
function plainText(eml) {
  const text = eml.replace(/\r\n/g, '\n');
  const parts = text.split(/\n--[^\n]+\n/);
  const part = parts.find((p) => /content-type:\s*text\/plain/i.test(p)) || text;
  const split = part.indexOf('\n\n');
  const head = part.slice(0, split);
  let body = part.slice(split + 2);
  if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
    body = body.replace(/=\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    body = Buffer.from(body, 'latin1').toString('utf8');
  } else if (/content-transfer-encoding:\s*base64/i.test(head)) {
    body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  return body;
}

// The newest link to `pathPrefix` (e.g. '/verify-email') in mail to `to`, waiting up to 20 s for the
// background sender to write it. Returns the absolute URL.
export async function lastMailLink(dataDir, to, pathPrefix) {
  const outbox = join(dataDir, 'outbox');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    let files = [];
    try {
      files = readdirSync(outbox)
        .filter((f) => f.endsWith('.eml'))
        .map((f) => join(outbox, f))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs || b.localeCompare(a));
    } catch (_) {
      // no mail yet
    }
    for (const file of files) {
      const eml = readFileSync(file, 'utf8');
      const toLine = eml.match(/^To:\s*(.*)$/im);
      if (!toLine || !toLine[1].toLowerCase().includes(to.toLowerCase())) continue;
      const escaped = pathPrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const link = plainText(eml).match(new RegExp(`https?://[^\\s/]+${escaped}\\?token=[A-Za-z0-9_\\-%.~]+`));
      if (link) return link[0];
    }
    await sleep(100);
  }
  throw new Error(`no mail to ${to} with a link to ${pathPrefix}`);
}

async function call(server, method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.origin + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    // not JSON
  }
  return { status: res.status, json, headers: res.headers };
}

// Calls the API outside the browser; answers {status, json, headers}.
export const apiCall = call;

// Signs in over the API; answers the token body.
export async function signIn(server, login, password = PASSWORD) {
  const res = await call(server, 'POST', '/api/v1/auth/login', { body: { login, password } });
  assert.equal(res.status, 200, `sign-in of ${login}: ${JSON.stringify(res.json)}`);
  return res.json;
}

let adminCount = 0;

// The instance's first admin, made with `rampart admin create` as an operator would.
async function operator(server) {
  if (!server.operator) {
    adminCount += 1;
    const username = `operator${adminCount}`;
    const made = spawnSync(
      server.bin,
      ['admin', 'create', '--email', `${username}@example.com`, '--username', username, '--password-stdin'],
      { input: `${PASSWORD}\n`, env: server.env, encoding: 'utf8' }
    );
    assert.equal(made.status, 0, made.stderr);
    server.operator = { username };
  }
  return (await signIn(server, server.operator.username)).access_token;
}

// A verified account made through the API and its mailed link; `role` 'admin' or 'moderator' is then
// given by the instance's operator. Answers {id, username, email, password, token}.
export async function createUser(server, { username, email, password = PASSWORD, role = 'user' }) {
  email = email || `${username}@example.com`;
  const made = await call(server, 'POST', '/api/v1/auth/register', { body: { username, email, password } });
  assert.equal(made.status, 201, `register ${username}: ${JSON.stringify(made.json)}`);
  const link = new URL(await lastMailLink(server.dataDir, email, '/verify-email'));
  const verified = await call(server, 'POST', '/api/v1/auth/verify-email', {
    body: { token: link.searchParams.get('token') },
  });
  assert.ok(verified.status < 300, `verify ${username}: ${verified.status}`);
  const id = made.json.user.id;
  if (role !== 'user') {
    const changed = await call(server, 'PATCH', `/api/v1/admin/users/${id}`, {
      token: await operator(server),
      body: { role },
    });
    assert.equal(changed.status, 200, `role of ${username}: ${JSON.stringify(changed.json)}`);
  }
  const token = (await signIn(server, username, password)).access_token;
  return { id, username, email, password, token };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

// A page in a new context (`options` as Playwright's newContext: DESKTOP, MOBILE, colorScheme …)
// whose `problems` collect console errors, uncaught errors, policy violations and 404s.
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ ...DESKTOP, ...options });
  const page = await context.newPage();
  const problems = watch(page);
  return { context, page, problems };
}

// Starts recording a page's problems (for pages opened later in a context, such as a second tab).
export function watch(page) {
  const problems = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`error: ${e.message}`));
  page.on('response', (r) => r.status() === 404 && problems.push(`404 ${r.url()}`));
  return problems;
}

const require = createRequire(import.meta.url);
let axeSource = null;

// axe-core's findings of impact serious or critical on the page as it is now. The script is run
// through the DevTools protocol, which the page's Content-Security-Policy does not govern.
export async function axeScan(page) {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function screenshot(page, name) {
  mkdirSync(ARTEFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTEFACTS, `${name}.png`), fullPage: true });
}
