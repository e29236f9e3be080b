// The admin console (/admin) in a real browser, against a real Rampart server: an admin disables a user
// whose open tab then learns it was signed out, revokes sessions and changes a role; a moderator
// removes someone's post and gets no user, audit or health data; an anonymous visitor and a plain
// user get no admin data; the audit log filters by kind; health shows the database and storage; and
// every view is photographed and scanned by axe-core on desktop and mobile, light and dark.
//
// Run: RAMPART_BIN=target/debug/rampart node --test tests/browser/admin.test.js   (after `npm ci` here)
//
// Parts that use endpoints other engineers are adding (DELETE /admin/users/{id}/sessions, the
// `status` filter, GET /admin/health) are skipped, with the reason, on a server that lacks them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import {
  PASSWORD,
  MOBILE,
  DESKTOP,
  apiCall,
  axeScan,
  createUser,
  launchBrowser,
  newPage,
  screenshot,
  signIn,
  startServer,
} from './harness.js';

let server;
let browser;
let admin;
let features;

before(async () => {
  server = await startServer({
    env: {
      // Many accounts and sign-ins from one address in a few seconds.
      RAMPART_LIMITS__REGISTER_PER_IP__BURST: '200',
      RAMPART_LIMITS__LOGIN_PER_IP__BURST: '500',
    },
  });
  browser = await launchBrowser();
  admin = await createUser(server, { username: 'ada_admin', role: 'admin' });
  features = await probe();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

// Which of the endpoints being added this server has. A route that does not exist answers a 404
// `not_found` (or 405); the real ones answer for the user (here: no such user, or a report).
async function probe() {
  const nobody = '00000000-0000-4000-8000-000000000000';
  const sessions = await apiCall(server, 'DELETE', `/api/v1/admin/users/${nobody}/sessions`, { token: admin.token });
  const status = await apiCall(server, 'GET', '/api/v1/admin/users?status=active', { token: admin.token });
  const health = await apiCall(server, 'GET', '/api/v1/admin/health', { token: admin.token });
  return {
    sessions: sessions.status !== 405 && sessions.json?.code !== 'not_found',
    status: status.status === 200,
    health: health.status === 200,
  };
}

const NEEDS = {
  sessions: 'DELETE /api/v1/admin/users/{id}/sessions is not on this server yet',
  status: 'the status filter of GET /api/v1/admin/users is not on this server yet',
  health: 'GET /api/v1/admin/health is not on this server yet',
};

// ---- helpers ---------------------------------------------------------------------------------------

// Signs in through the app's sign-in view (by its labels), landing on `next`. If the app's view is
// not there, the session is made over the API in cookie mode, as the app would keep it.
async function signInAs(page, user, next = '/', on = server) {
  await page.goto(`${on.origin}/sign-in?next=${encodeURIComponent(next)}`);
  const login = page.getByLabel(/email or username/i);
  try {
    await login.waitFor({ timeout: 5000 });
  } catch (_) {
    return signInOverApi(page, user, next, on);
  }
  await login.fill(user.username);
  await page.getByLabel(/^password$/i).fill(user.password || PASSWORD);
  await page.getByRole('button', { name: /^sign in$/i }).click();
  await page.waitForURL((url) => url.pathname !== '/sign-in', { timeout: 15000 });
}

async function signInOverApi(page, user, next, on) {
  const res = await page.request.post(`${on.origin}/api/v1/auth/login`, {
    data: { login: user.username, password: user.password || PASSWORD, refresh_cookie: true },
  });
  assert.equal(res.status(), 200, `cookie sign-in of ${user.username}`);
  const body = await res.json();
  await page.evaluate((csrf) => localStorage.setItem('rampart.csrf', csrf), body.csrf_token);
  await page.goto(on.origin + next);
}

// The app's message region (aria-live) with `text`.
function message(page, text) {
  return page.locator('#message').filter({ hasText: text });
}

// The table row of a user in the console's Users view.
function userRow(page, username) {
  return page.getByRole('row').filter({ hasText: `@${username}` });
}

// Answers the console's confirmation dialog (not the app's step-up dialog, which may follow it).
async function confirm(page, name) {
  const dialog = page.getByRole('dialog').and(page.locator('.adm-dialog'));
  await dialog.waitFor();
  await dialog.getByRole('button', { name, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

// Records the status of every admin API answer the page gets.
function adminAnswers(page) {
  const seen = [];
  page.on('response', (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith('/api/v1/admin/')) seen.push({ path: url.pathname + url.search, status: r.status() });
  });
  return seen;
}

// A small valid PNG, so posts can be made without files on disk.
function png(width = 24, height = 24, rgb = [200, 90, 40]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => rgb).flat())]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function createPost(user, caption, rgb) {
  const form = new FormData();
  form.append('image', new Blob([png(24, 24, rgb)], { type: 'image/png' }), 'image.png');
  form.append('caption', caption);
  const res = await fetch(`${server.origin}/api/v1/posts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.token}`, 'idempotency-key': crypto.randomUUID() },
    body: form,
  });
  assert.equal(res.status, 201, `post by ${user.username}: ${await res.clone().text()}`);
  return res.json();
}

// No console error, uncaught error, policy violation or 404. `expected` lists the refusals a test
// provokes on purpose (Chromium logs every 4xx answer as a console error).
function noProblems(problems, what, expected = []) {
  const left = problems.filter((p) => !expected.some((status) => p.includes(`status of ${status}`)));
  assert.deepEqual(left, [], `${what}: no script error, policy violation or 404`);
}

// ---- tests -----------------------------------------------------------------------------------------

test('an admin disables a user whose open tab is then signed out, and changes a role', async () => {
  const victim = await createUser(server, { username: 'vic_tim' });
  const promoted = await createUser(server, { username: 'olga_ok' });

  // The user's tab, open on the feed.
  const user = await newPage(browser);
  await signInAs(user.page, victim, '/');
  await user.page.getByRole('button', { name: /sign out/i }).waitFor();

  const staff = await newPage(browser);
  const { page } = staff;
  await signInAs(page, admin, '/admin/users');
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
  await userRow(page, victim.username).waitFor();

  // Disable, after a confirmation.
  await userRow(page, victim.username).getByRole('button', { name: /^Disable/ }).click();
  assert.equal(await page.getByRole('dialog').getByRole('heading').textContent(), `Disable @${victim.username}?`);
  await confirm(page, 'Disable');
  await message(page, `@${victim.username} is disabled`).waitFor();
  await userRow(page, victim.username).getByText('Disabled', { exact: true }).waitFor();
  // Focus stays on the row's control (now "Enable").
  assert.match(await page.evaluate(() => document.activeElement?.textContent || ''), /^Enable/);

  // The user's open tab re-checks its session when it comes back, and learns it was signed out.
  await user.page.evaluate(() => {
    document.dispatchEvent(new Event('visibilitychange'));
    window.dispatchEvent(new Event('focus'));
  });
  await user.page.getByText(/signed out/i).first().waitFor({ timeout: 15000 });
  assert.equal((await apiCall(server, 'GET', '/api/v1/me', { token: victim.token })).status, 401);
  assert.equal((await apiCall(server, 'POST', '/api/v1/auth/login', { body: { login: victim.username, password: PASSWORD } })).status >= 400, true);

  // A role change through the dialog's select.
  await userRow(page, promoted.username).getByRole('button', { name: /^Change role/ }).click();
  await page.getByRole('dialog').getByLabel('New role').selectOption('moderator');
  await confirm(page, 'Change role');
  await message(page, `@${promoted.username} is now a moderator`).waitFor();
  const listed = await apiCall(server, 'GET', `/api/v1/admin/users?q=${promoted.username}`, { token: admin.token });
  assert.equal(listed.json.items.find((u) => u.username === promoted.username).role, 'moderator');

  // Resetting second factors (the account has none: it still answers 204 and mails the owner).
  await userRow(page, promoted.username).getByRole('button', { name: /^Reset 2FA/ }).click();
  await confirm(page, 'Reset second factors');
  await message(page, `The second factors of @${promoted.username} were removed`).waitFor();

  // Enabling needs no confirmation.
  await userRow(page, victim.username).getByRole('button', { name: /^Enable/ }).click();
  await message(page, `@${victim.username} is enabled again`).waitFor();

  noProblems(staff.problems, 'admin');
  noProblems(user.problems, 'user', [401]);
  await staff.context.close();
  await user.context.close();
});

test('an admin revokes every session of a user', async (t) => {
  if (!features.sessions) return t.skip(NEEDS.sessions);
  const target = await createUser(server, { username: 'sam_sessions' });
  const other = await signIn(server, target.username);
  const staff = await newPage(browser);
  const { page } = staff;
  await signInAs(page, admin, `/admin/users?q=${target.username}`);
  await userRow(page, target.username).getByRole('button', { name: /^Sign out everywhere/ }).click();
  await confirm(page, 'Sign out everywhere');
  await message(page, `@${target.username} was signed out everywhere`).waitFor();
  assert.equal((await apiCall(server, 'GET', '/api/v1/me', { token: target.token })).status, 401);
  assert.equal((await apiCall(server, 'GET', '/api/v1/me', { token: other.access_token })).status, 401);
  noProblems(staff.problems, 'admin');
  await staff.context.close();
});

test('the users view filters by role and status, and the URL keeps the filters', async (t) => {
  if (!features.status) return t.skip(NEEDS.status);
  const off = await createUser(server, { username: 'dora_disabled' });
  assert.equal((await apiCall(server, 'PATCH', `/api/v1/admin/users/${off.id}`, { token: admin.token, body: { disabled: true } })).status, 200);
  const staff = await newPage(browser);
  const { page } = staff;
  await signInAs(page, admin, '/admin/users');
  await page.getByLabel('Status').selectOption('disabled');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/\/admin\/users\?status=disabled$/);
  await userRow(page, off.username).waitFor();
  assert.equal(await userRow(page, admin.username).count(), 0);
  // Back to the unfiltered list, and forward again.
  await page.goBack();
  await userRow(page, admin.username).waitFor();
  await page.goForward();
  await userRow(page, off.username).waitFor();
  assert.equal(await page.getByLabel('Status').inputValue(), 'disabled');

  // Role and status together: active moderators only.
  const mod = await createUser(server, { username: 'rita_role', role: 'moderator' });
  await page.getByLabel('Role').selectOption('moderator');
  await page.getByLabel('Status').selectOption('active');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/\/admin\/users\?role=moderator&status=active$/);
  await userRow(page, mod.username).waitFor();
  const roles = await page.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => tr.querySelector('td[data-label="Role"]').textContent));
  assert.deepEqual([...new Set(roles)], ['Moderator']);
  assert.equal(await userRow(page, off.username).count(), 0);
  noProblems(staff.problems, 'admin');
  await staff.context.close();
});

test('an admin whose sign-in is not recent confirms who they are before a change', async () => {
  const strict = await startServer({ env: { RAMPART_AUTH__REAUTH_WINDOW_SECS: '2' } });
  try {
    const boss = await createUser(strict, { username: 'stella_staff', role: 'admin' });
    const target = await createUser(strict, { username: 'theo_target' });
    const staff = await newPage(browser);
    const { page } = staff;
    await signInAs(page, boss, `/admin/users?q=${target.username}`, strict);
    await userRow(page, target.username).waitFor();
    await new Promise((r) => setTimeout(r, 3500)); // past the window (whole seconds)

    // The first try gets 401 reauthentication_required; the app asks for the password and retries.
    await userRow(page, target.username).getByRole('button', { name: /^Disable/ }).click();
    await confirm(page, 'Disable');
    const stepUp = page.getByRole('dialog');
    await stepUp.getByLabel(/^password$/i).fill(PASSWORD);
    await stepUp.getByRole('button', { name: 'Confirm' }).click();
    await message(page, `@${target.username} is disabled`).waitFor();
    const token = (await signIn(strict, boss.username)).access_token;
    const listed = await apiCall(strict, 'GET', `/api/v1/admin/users?q=${target.username}`, { token });
    assert.equal(listed.json.items[0].disabled, true);

    // Cancelling the step-up changes nothing, and says so.
    await new Promise((r) => setTimeout(r, 3500)); // past the window (whole seconds)
    await userRow(page, target.username).getByRole('button', { name: /^Enable/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await message(page, 'nothing was changed').waitFor();
    assert.equal((await apiCall(strict, 'GET', `/api/v1/admin/users?q=${target.username}`, { token })).json.items[0].disabled, true);
    noProblems(staff.problems, 'admin', [401]);
    await staff.context.close();
  } finally {
    strict.stop();
  }
});

test('a moderator removes another user\'s post and gets no user, audit or health data', async () => {
  const author = await createUser(server, { username: 'paula_posts' });
  const moderator = await createUser(server, { username: 'mona_mod', role: 'moderator' });
  const keep = await createPost(author, 'A harbour at dawn #sea', [40, 120, 200]);
  const doomed = await createPost(author, 'Something that breaks the rules #spam', [200, 40, 40]);

  const staff = await newPage(browser);
  const { page } = staff;
  const answers = adminAnswers(page);
  await signInAs(page, moderator, '/admin');
  // A moderator's console opens on Posts; there are no tabs for the admin-only views, only a note.
  await page.waitForURL(/\/admin\/posts$/);
  const tabs = page.getByRole('navigation', { name: 'Admin console' });
  assert.deepEqual(await tabs.getByRole('link').allTextContents(), ['Posts']);
  await page.getByText(/for administrators/).waitFor();

  const row = page.getByRole('row').filter({ hasText: 'breaks the rules' });
  await row.getByRole('button', { name: /^Remove/ }).click();
  // Cancel first: nothing happens, focus returns to the button.
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.match(await page.evaluate(() => document.activeElement?.textContent || ''), /^Remove/);
  assert.equal((await apiCall(server, 'GET', `/api/v1/posts/${doomed.id}`)).status, 200);

  await row.getByRole('button', { name: /^Remove/ }).click();
  await confirm(page, 'Remove post');
  await message(page, `The post by @${author.username} was removed`).waitFor();
  await row.waitFor({ state: 'detached' });
  assert.equal((await apiCall(server, 'GET', `/api/v1/posts/${doomed.id}`)).status, 404);
  assert.equal((await apiCall(server, 'GET', `/api/v1/posts/${keep.id}`)).status, 200);
  await page.getByRole('row').filter({ hasText: 'harbour at dawn' }).waitFor();

  // The author's link filters the list by author, in the URL.
  await createPost(moderator, 'A moderator\'s own photo #mine', [90, 90, 160]);
  await page.goto(`${server.origin}/admin/posts`);
  await page.getByRole('row').filter({ hasText: 'own photo' }).waitFor();
  await page.getByRole('row').filter({ hasText: 'harbour at dawn' }).getByRole('link', { name: new RegExp(`^@${author.username}`) }).click();
  await page.waitForURL((url) => url.pathname === '/admin/posts' && url.searchParams.get('author') === author.username);
  await page.getByRole('row').filter({ hasText: 'harbour at dawn' }).waitFor();
  assert.equal(await page.getByRole('row').filter({ hasText: 'own photo' }).count(), 0);
  assert.equal(await page.getByLabel('Author').inputValue(), author.username);

  // The admin-only views, opened by URL: the API refuses, the console shows no data.
  for (const view of ['users', 'audit']) {
    await page.goto(`${server.origin}/admin/${view}`);
    await page.getByText('You do not have access to this.').waitFor();
    assert.equal(await page.getByRole('table').count(), 0, `no table in /admin/${view}`);
  }
  assert.ok(answers.some((a) => a.path.startsWith('/api/v1/admin/users') && a.status === 403), JSON.stringify(answers));
  assert.ok(answers.some((a) => a.path.startsWith('/api/v1/admin/audit') && a.status === 403), JSON.stringify(answers));
  assert.ok(answers.every((a) => a.status !== 200), JSON.stringify(answers));
  for (const path of ['/api/v1/admin/users', '/api/v1/admin/audit']) {
    assert.equal((await apiCall(server, 'GET', path, { token: moderator.token })).status, 403, path);
  }

  // The removal is audited, with both parties.
  const audit = await apiCall(server, 'GET', '/api/v1/admin/audit?kind=post_removed_by_moderator', { token: admin.token });
  assert.ok(audit.json.items.some((e) => e.actor_id === moderator.id && e.target_id === author.id));

  noProblems(staff.problems, 'moderator', [403]);
  await staff.context.close();
});

test('a moderator gets no health data', async (t) => {
  if (!features.health) return t.skip(NEEDS.health);
  const moderator = await createUser(server, { username: 'max_mod', role: 'moderator' });
  assert.equal((await apiCall(server, 'GET', '/api/v1/admin/health', { token: moderator.token })).status, 403);
  const staff = await newPage(browser);
  const answers = adminAnswers(staff.page);
  await signInAs(staff.page, moderator, '/admin/health');
  await staff.page.getByText('You do not have access to this.').waitFor();
  assert.ok(answers.some((a) => a.path === '/api/v1/admin/health' && a.status === 403), JSON.stringify(answers));
  assert.equal(await staff.page.getByRole('listitem').filter({ hasText: 'Database' }).count(), 0);
  noProblems(staff.problems, 'moderator', [403]);
  await staff.context.close();
});

test('an anonymous visitor and a plain user get no admin data', async () => {
  const anonymous = await newPage(browser);
  const answers = adminAnswers(anonymous.page);
  const requests = [];
  anonymous.page.on('request', (r) => new URL(r.url()).pathname.startsWith('/api/v1/admin/') && requests.push(r.url()));
  for (const path of ['/admin', '/admin/users', '/admin/posts', '/admin/audit?kind=login', '/admin/health']) {
    await anonymous.page.goto(server.origin + path);
    await anonymous.page.waitForLoadState('networkidle');
    assert.equal(await anonymous.page.getByRole('table').count(), 0, path);
    assert.equal(await anonymous.page.getByText(/@ada_admin/).count(), 0, path);
  }
  assert.ok(answers.every((a) => a.status !== 200), JSON.stringify(answers));
  noProblems(anonymous.problems, 'anonymous');
  await anonymous.context.close();

  assert.equal((await apiCall(server, 'GET', '/api/v1/admin/users')).status, 401);
  assert.equal((await apiCall(server, 'GET', '/api/v1/admin/audit')).status, 401);
  const plain = await createUser(server, { username: 'pete_plain' });
  assert.equal((await apiCall(server, 'GET', '/api/v1/admin/users', { token: plain.token })).status, 403);
  assert.equal((await apiCall(server, 'GET', '/api/v1/admin/audit', { token: plain.token })).status, 403);
  assert.equal((await apiCall(server, 'PATCH', `/api/v1/admin/users/${admin.id}`, { token: plain.token, body: { disabled: true } })).status, 403);

  // Signed in as a plain user, the console shows no data either.
  const user = await newPage(browser);
  const seen = adminAnswers(user.page);
  await signInAs(user.page, plain, '/admin/users');
  await user.page.getByText('You do not have access to this.').waitFor();
  assert.equal(await user.page.getByRole('table').count(), 0);
  assert.ok(seen.every((a) => a.status !== 200), JSON.stringify(seen));
  noProblems(user.problems, 'plain user');
  await user.context.close();
});

test('the audit log filters by kind and user', async () => {
  const subject = await createUser(server, { username: 'ursula_audit' });
  // Thirteen rounds: more events than one page holds, whatever ran before.
  for (const disabled of Array.from({ length: 26 }, (_, i) => i % 2 === 0)) {
    const res = await apiCall(server, 'PATCH', `/api/v1/admin/users/${subject.id}`, { token: admin.token, body: { disabled } });
    assert.equal(res.status, 200);
  }
  const staff = await newPage(browser);
  const { page } = staff;
  await signInAs(page, admin, '/admin/audit');
  await page.getByRole('table', { name: /audit events/i }).waitFor();

  await page.getByLabel('Event').selectOption('user_disabled');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/\/admin\/audit\?kind=user_disabled$/);
  const rows = page.getByRole('table').locator('tbody tr');
  await rows.first().waitFor();
  const kinds = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.kind));
  assert.ok(kinds.length >= 1);
  assert.deepEqual([...new Set(kinds)], ['user_disabled']);
  await rows.filter({ hasText: `@${subject.username}` }).first().waitFor();
  // Focus is back on the filter button after the filtered view loads.
  await page.waitForFunction(() => document.activeElement?.textContent === 'Filter');

  // By user, typed as a username: the URL carries the id.
  await page.getByLabel('Event').selectOption('');
  await page.getByLabel(/^User/).fill(subject.username);
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL((url) => url.searchParams.get('user_id') === subject.id);
  await rows.first().waitFor();
  const subjects = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.kind));
  assert.ok(subjects.includes('user_enabled') && subjects.includes('user_disabled'), subjects.join());
  const texts = await rows.allTextContents();
  assert.ok(texts.every((t) => t.includes(`@${subject.username}`)), 'every event concerns the user');

  // The whole log is longer than a page: "Load more" follows next_cursor and appends.
  await page.goto(`${server.origin}/admin/audit`);
  await rows.first().waitFor();
  assert.equal(await rows.count(), 25);
  const firstPage = await rows.evaluateAll((trs) => trs.map((tr) => tr.textContent));
  await page.getByRole('button', { name: 'Load more events' }).click();
  await page.waitForFunction(() => document.querySelectorAll('tbody tr').length > 25);
  const all = await rows.evaluateAll((trs) => trs.map((tr) => tr.textContent));
  assert.deepEqual(all.slice(0, 25), firstPage, 'the first page stays, the next is appended');
  await page.getByText(`${all.length} events shown.`).waitFor();

  // Nothing of one kind: an empty state, not an empty table.
  await page.goto(`${server.origin}/admin/audit?kind=passkey_rejected`);
  await page.getByText('No events match these filters.').waitFor();
  noProblems(staff.problems, 'admin');
  await staff.context.close();
});

test('health shows the database and storage', async (t) => {
  if (!features.health) return t.skip(NEEDS.health);
  const staff = await newPage(browser);
  const { page } = staff;
  await signInAs(page, admin, '/admin/health');
  for (const name of ['Database', 'Storage', 'Mail']) {
    const card = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name, exact: true }) });
    await card.waitFor();
    await card.getByText('OK', { exact: true }).waitFor();
  }
  await page.getByRole('button', { name: 'Check again' }).click();
  await message(page, /checks are OK|Down:/).waitFor();
  noProblems(staff.problems, 'admin');
  await staff.context.close();
});

test('every console view on desktop and mobile, light and dark: screenshots and no serious axe finding', async (t) => {
  const author = await createUser(server, { username: 'gina_gallery' });
  await createPost(author, 'Evening light over the old bridge #river #evening', [230, 160, 60]);
  await createPost(author, 'Two herons #birds', [70, 140, 90]);
  const views = ['users', 'posts', 'audit', 'health'].filter((v) => v !== 'health' || features.health);
  if (!features.health) t.diagnostic(`health view left out: ${NEEDS.health}`);
  const found = [];
  for (const [device, options] of [['desktop', DESKTOP], ['mobile', MOBILE]]) {
    for (const colorScheme of ['light', 'dark']) {
      const staff = await newPage(browser, { ...options, colorScheme });
      const { page } = staff;
      await signInAs(page, admin, '/admin/users');
      for (const view of views) {
        await page.goto(`${server.origin}/admin/${view}`);
        await page.getByRole('heading', { level: 1 }).waitFor();
        await page.locator('.adm-status').first().filter({ hasNotText: /^(Loading|Checking)/ }).waitFor();
        await page.waitForLoadState('networkidle');
        await screenshot(page, `admin-${view}-${device}-${colorScheme}`);
        for (const v of await axeScan(page)) found.push(`${view} ${device} ${colorScheme}: ${v.id} (${v.impact}) ${v.help} at ${v.nodes.join(', ')}`);
      }
      // The confirmation dialog, open.
      await page.goto(`${server.origin}/admin/posts`);
      await page.getByRole('button', { name: /^Remove/ }).first().click();
      await page.getByRole('dialog').waitFor();
      await screenshot(page, `admin-dialog-${device}-${colorScheme}`);
      for (const v of await axeScan(page)) found.push(`dialog ${device} ${colorScheme}: ${v.id} (${v.impact}) ${v.help} at ${v.nodes.join(', ')}`);
      await page.keyboard.press('Escape');
      await page.getByRole('dialog').waitFor({ state: 'hidden' });
      noProblems(staff.problems, `${device} ${colorScheme}`);
      await staff.context.close();
    }
  }
  assert.deepEqual(found, [], 'no serious or critical accessibility violation');
});
