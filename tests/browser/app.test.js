// The web app in a real browser (Debian's chromium via playwright-core) against a real Rampart server:
// registration and the mailed links, posting with a progress bar, the post page (If-Match edits and
// deletion), password reset, the session shared by tabs (sign-out everywhere, concurrent refreshes),
// desktop and mobile layouts with screenshots, axe-core scans in light and dark, and the size of the
// first load. Every test fails on a console error, a policy violation or a 404.
//
// Run: RAMPART_BIN=target/debug/rampart node --test tests/browser   (after `npm ci` in tests/browser)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import {
  startServer,
  lastMailLink,
  createUser,
  launchBrowser,
  newPage,
  watch,
  axeScan,
  screenshot,
  apiCall,
  signIn,
  PASSWORD,
  MOBILE,
} from './harness.js';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

// ---- A real image, made here: a PNG with a gradient and some noise ----------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

export function png(width, height, seed = 1) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let state = seed * 7919;
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0;
    for (let x = 0; x < width; x++) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      const noise = state % 24;
      raw[row + 1 + x * 3] = Math.min(255, Math.round((x / width) * 200) + noise);
      raw[row + 2 + x * 3] = Math.min(255, Math.round((y / height) * 180) + noise);
      raw[row + 3 + x * 3] = Math.min(255, ((seed * 50) % 200) + noise);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function postOverApi(server, token, caption, seed) {
  const form = new FormData();
  form.append('caption', caption);
  form.append('image', new Blob([png(240, 180, seed)], { type: 'image/png' }), `p${seed}.png`);
  const res = await fetch(`${server.origin}/api/v1/posts`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return JSON.parse(text);
}

const noProblems = (problems, where) => assert.deepEqual(problems, [], `no script error, policy violation or 404 (${where})`);

// Chromium logs every 4xx answer to fetch as a console error; a step that provokes one on purpose
// takes exactly that entry out (and only that one).
function expected(problems, status) {
  const at = problems.findIndex((p) => p.includes(`status of ${status} `));
  assert.ok(at >= 0, `the ${status} was provoked`);
  problems.splice(at, 1);
}

async function registerInBrowser(page, origin, { username, email, password = PASSWORD }) {
  await page.goto(`${origin}/register`);
  await page.fill('#register-form input[name=username]', username);
  await page.fill('#register-form input[name=email]', email);
  await page.fill('#register-form input[name=password]', password);
  await page.click('#register-form button[type=submit]');
  await page.locator('#whoami-name').filter({ hasText: `@${username}` }).waitFor();
}

async function signInInBrowser(page, login, password = PASSWORD) {
  await page.fill('#sign-in-form input[name=login]', login);
  await page.fill('#sign-in-form input[name=password]', password);
  await page.click('#sign-in-form button[type=submit]');
  await page.locator('#whoami-name').filter({ hasText: `@${login}` }).waitFor();
}

// ---- Register, verify, post, edit, delete --------------------------------------------------------

test('register, verify through the mailed link, post with progress, edit with If-Match, delete', async () => {
  const server = await startServer();
  try {
    const { context, page, problems } = await newPage(browser);
    await registerInBrowser(page, server.origin, { username: 'web_ann', email: 'ann@example.com' });
    await page.locator('#message').filter({ hasText: 'verify' }).waitFor();

    // Not verified yet: the upload page says so.
    await page.click('#nav-upload');
    await page.locator('#unverified').waitFor();

    // The mailed link, opened in another tab of the same browser: signed in there too, and verified.
    const link = await lastMailLink(server.dataDir, 'ann@example.com', '/verify-email');
    const mailTab = await context.newPage();
    const mailProblems = watch(mailTab);
    await mailTab.goto(link);
    await mailTab.locator('#link-status').filter({ hasText: 'Your email address is verified' }).waitFor();
    await mailTab.locator('#whoami-name').filter({ hasText: '@web_ann' }).waitFor();
    assert.equal(new URL(mailTab.url()).search, '', 'the token left the address bar');
    await mailTab.close();
    noProblems(mailProblems, 'verify tab');

    // Back in the first tab: the upload form, a real PNG, the progress bar.
    await page.goto(`${server.origin}/upload`);
    await page.locator('#upload-form').waitFor();
    assert.equal(await page.locator('#unverified').count(), 0, 'the verification reached this tab');

    // Checked before sending: the type and the size; then the server's verdict on bytes that only
    // claim to be an image, in words a person can act on.
    await page.setInputFiles('#image-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await page.locator('#image-error').filter({ hasText: '“notes.txt” is not a JPEG, PNG, GIF or WebP image.' }).waitFor();
    await page.setInputFiles('#image-input', { name: 'huge.png', mimeType: 'image/png', buffer: Buffer.alloc(10 * 1024 * 1024 + 1) });
    await page.locator('#image-error').filter({ hasText: 'the largest image Rampart accepts is 10 MB' }).waitFor();
    await page.setInputFiles('#image-input', { name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('plain text pretending to be a picture') });
    await page.click('#upload-submit');
    await page.locator('#image-error').filter({ hasText: 'Rampart cannot read this kind of file.' }).waitFor();
    expected(problems, 415);

    await page.setInputFiles('#image-input', { name: 'sunset.png', mimeType: 'image/png', buffer: png(900, 600, 3) });
    await page.locator('#drop.has-preview').waitFor();
    await page.fill('#caption', 'Golden hour at the lake #sunset #lake');
    await screenshot(page, 'app-upload-preview');
    await page.evaluate(() => {
      window.__progress = [];
      const bar = document.getElementById('upload-progress');
      new MutationObserver(() => window.__progress.push(bar.value)).observe(bar, { attributes: true, attributeFilter: ['value'] });
    });
    await page.click('#upload-submit');
    await page.locator('#message').filter({ hasText: 'Your post is published.' }).waitFor();
    const progress = await page.evaluate(() => window.__progress);
    assert.ok(progress.length > 0 && progress.every((v, i) => i === 0 || v >= progress[i - 1]), `progress moved forward: ${progress}`);
    assert.equal(progress.at(-1), 100, `progress ended at 100: ${progress}`);

    // The feed shows it, as a thumbnail with a placeholder.
    const card = page.locator('#posts .card').first();
    await card.waitFor();
    assert.match(await card.locator('.card-caption').textContent(), /Golden hour/);
    const thumb = card.locator('img.photo');
    assert.equal(await thumb.getAttribute('loading'), 'eager');
    assert.match(await thumb.getAttribute('src'), /thumb/);
    assert.doesNotMatch((await thumb.getAttribute('srcset')) || '', /display/, 'only thumbnails in the grid');
    assert.equal(await card.locator('canvas.blurhash').count(), 1, 'a blurhash placeholder');

    // The post page: the display rendition, linked tags, the author.
    await card.locator('a.card-media').click();
    await page.locator('#post-caption').waitFor();
    assert.match(page.url(), /\/p\/[0-9a-f-]{36}$/);
    assert.match(await page.locator('.post-media img.photo').getAttribute('srcset'), /display/);
    assert.equal(await page.locator('#post-caption a.tag', { hasText: '#sunset' }).getAttribute('href'), '/?tag=sunset');
    assert.equal(await page.locator('.post-title a.byline').getAttribute('href'), '/u/web_ann');
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1', 'focus on the new view’s heading');
    const postId = page.url().split('/').pop();

    // An edit made elsewhere meanwhile: saving answers 412, the page says so and reloads the post.
    await page.click('#edit-caption');
    await page.fill('#caption-input', 'My edit #sunset');
    await screenshot(page, 'app-post-edit');
    const api = await signIn(server, 'web_ann');
    const other = await apiCall(server, 'PATCH', `/api/v1/posts/${postId}`, { token: api.access_token, body: { caption: 'Changed elsewhere #lake' } });
    assert.equal(other.status, 200);
    await page.click('#caption-form button[type=submit]');
    await page.locator('#message').filter({ hasText: 'changed elsewhere' }).waitFor();
    await page.locator('#post-caption').filter({ hasText: 'Changed elsewhere' }).waitFor();
    expected(problems, 412);

    // Now the edit goes through (with the new version's If-Match).
    await page.click('#edit-caption');
    await page.fill('#caption-input', 'Final words #sunset #calm');
    await page.click('#caption-form button[type=submit]');
    await page.locator('#message').filter({ hasText: 'The caption is saved.' }).waitFor();
    await page.locator('#post-caption a.tag', { hasText: '#calm' }).waitFor();

    // The tag link opens the tag's feed, reflected in the URL.
    await page.click('#post-caption a.tag >> text=#calm');
    await page.locator('#feed-title').filter({ hasText: '#calm' }).waitFor();
    assert.equal(new URL(page.url()).search, '?tag=calm');
    await page.locator('#posts .card').first().waitFor();
    await page.locator('#posts .card a.card-media').first().click();

    // Delete, confirmed in the dialog.
    await page.click('#delete-post');
    await page.locator('dialog[open] button.danger').click();
    await page.locator('#message').filter({ hasText: 'The post is deleted.' }).waitFor();
    await page.locator('#feed-empty').waitFor();
    noProblems(problems, 'main tab');
    await context.close();
  } finally {
    server.stop();
  }
});

// ---- Password reset ---------------------------------------------------------------------------------

test('reset the password through the mailed link, then sign in with the new one', async () => {
  const server = await startServer();
  try {
    await createUser(server, { username: 'web_bob' });
    const { context, page, problems } = await newPage(browser);
    await page.goto(`${server.origin}/sign-in`);
    await page.click('text=Forgot your password?');
    await page.fill('#forgot-form input[name=email]', 'web_bob@example.com');
    await page.click('#forgot-form button[type=submit]');
    await page.locator('#message').filter({ hasText: 'reset link is on its way' }).waitFor();

    const link = await lastMailLink(server.dataDir, 'web_bob@example.com', '/reset-password');
    await page.goto(link);
    await page.locator('#reset-form').waitFor();
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
    await page.fill('#reset-form input[name=new_password]', 'a brand new passphrase');
    await page.fill('#reset-form input[name=repeat]', 'a brand new passphrase');
    await page.click('#reset-form button[type=submit]');
    await page.locator('#message').filter({ hasText: 'Your password is changed' }).waitFor();
    await page.locator('#sign-in-form').waitFor();

    // The old password no longer works; the new one does.
    await page.fill('#sign-in-form input[name=login]', 'web_bob');
    await page.fill('#sign-in-form input[name=password]', PASSWORD);
    await page.click('#sign-in-form button[type=submit]');
    await page.locator('#message').filter({ hasText: 'The username, email or password is wrong.' }).waitFor();
    expected(problems, 401);
    await signInInBrowser(page, 'web_bob', 'a brand new passphrase');
    noProblems(problems, 'reset');
    await context.close();
  } finally {
    server.stop();
  }
});

// ---- Tabs share one session -----------------------------------------------------------------------

test('a second tab is signed in too, and signing out in one tab signs out the other with a message', async () => {
  const server = await startServer();
  try {
    await createUser(server, { username: 'web_cat' });
    const { context, page, problems } = await newPage(browser);
    await page.goto(`${server.origin}/sign-in`);
    await signInInBrowser(page, 'web_cat');

    const second = await context.newPage();
    const secondProblems = watch(second);
    await second.goto(`${server.origin}/settings/sessions`);
    await second.locator('#whoami-name').filter({ hasText: '@web_cat' }).waitFor();
    await second.locator('#session-list .session.current').waitFor();

    await page.click('#sign-out');
    await page.locator('#message').filter({ hasText: 'You are signed out.' }).waitFor();
    await second.locator('#message').filter({ hasText: 'signed out' }).waitFor();
    await second.locator('#sign-in-form').waitFor();
    assert.equal(await second.locator('#whoami-name').count(), 0);

    // A new tab opens signed out, and the sign-in there signs in the other tabs.
    const third = await context.newPage();
    const thirdProblems = watch(third);
    await third.goto(`${server.origin}/`);
    await third.locator('a[href="/sign-in"]').first().waitFor();
    await signInInBrowser(second, 'web_cat');
    await page.locator('#whoami-name').filter({ hasText: '@web_cat' }).waitFor();
    await third.locator('#whoami-name').filter({ hasText: '@web_cat' }).waitFor();
    noProblems([...problems, ...secondProblems, ...thirdProblems], 'tabs');
    await context.close();
  } finally {
    server.stop();
  }
});

test('two tabs refreshing at once keep the one session', async () => {
  // Access tokens of 6 s, so both tabs need a refresh at the same moment.
  const server = await startServer({ env: { RAMPART_AUTH__ACCESS_TTL_SECS: '6' } });
  try {
    await createUser(server, { username: 'web_dan' });
    const { context, page, problems } = await newPage(browser);
    await page.goto(`${server.origin}/sign-in`);
    await signInInBrowser(page, 'web_dan');
    const second = await context.newPage();
    const secondProblems = watch(second);
    await second.goto(`${server.origin}/settings/profile`);
    await second.locator('#whoami-name').filter({ hasText: '@web_dan' }).waitFor();

    const refreshes = [];
    for (const p of [page, second]) p.on('request', (r) => r.url().endsWith('/api/v1/auth/refresh') && refreshes.push(r));
    for (let round = 0; round < 2; round++) {
      await page.waitForTimeout(6500);
      // Both tabs re-check their session at the same moment (as when the window regains focus).
      await Promise.all([page, second].map((p) => p.evaluate(() => window.dispatchEvent(new Event('focus')))));
      await page.waitForTimeout(1500);
    }
    assert.ok(refreshes.length >= 2, `the tabs refreshed (${refreshes.length})`);
    for (const p of [page, second]) {
      assert.equal(await p.locator('#message .notice.error').count(), 0, 'no signed-out message');
      await p.locator('#whoami-name').filter({ hasText: '@web_dan' }).waitFor();
    }
    await second.goto(`${server.origin}/settings/sessions`);
    await second.locator('#session-list .session').first().waitFor();
    // createUser's own API sign-in is one session; the browser's is the other, shared by both tabs.
    const ours = await second.locator('#session-list .session').filter({ hasText: 'Chrome' }).count();
    assert.equal(ours, 1, 'one browser session');
    assert.equal(await second.locator('#session-list .session.current').count(), 1);
    noProblems([...problems, ...secondProblems], 'refresh');
    await context.close();
  } finally {
    server.stop();
  }
});

// ---- Layouts, screenshots, accessibility ----------------------------------------------------------------

test('every main view on desktop and mobile, in light and dark: screenshots and no serious axe findings', async () => {
  const server = await startServer();
  try {
    const user = await createUser(server, { username: 'web_eve' });
    await apiCall(server, 'PATCH', '/api/v1/me', { token: user.token, body: { display_name: 'Eve Example', bio: 'Pictures of lakes and light.' } });
    for (let i = 0; i < 5; i++) await postOverApi(server, user.token, `Lake view number ${i + 1} #lake #light`, i + 1);
    const first = (await apiCall(server, 'GET', '/api/v1/posts?limit=1')).json.items[0];

    const views = [
      ['feed', '/', '#posts .card img.photo.loaded'],
      ['post', `/p/${first.id}`, '.post-media img.photo.loaded'],
      ['upload', '/upload', '#upload-form'],
      ['profile', '/u/web_eve', '#posts .card'],
      ['settings', '/settings/profile', '#profile-form'],
      ['security', '/settings/security', '#passkey-add-form'],
      ['sessions', '/settings/sessions', '#session-list .session'],
      ['sign-in', '/sign-in', '#sign-in-form'],
      ['register', '/register', '#register-form'],
    ];
    const findings = [];
    for (const [layout, options] of [['desktop', {}], ['mobile', MOBILE]]) {
      for (const scheme of ['light', 'dark']) {
        const { context, page, problems } = await newPage(browser, { ...options, colorScheme: scheme });
        await page.goto(`${server.origin}/sign-in`);
        await signInInBrowser(page, 'web_eve');
        for (const [name, path, ready] of views) {
          if (name === 'sign-in') {
            // The views after this one are for signed-out visitors.
            await page.click('#sign-out');
            await page.locator('#message').filter({ hasText: 'signed out' }).waitFor();
          }
          await page.goto(server.origin + path);
          await page.locator(ready).first().waitFor();
          await page.waitForTimeout(150);
          await screenshot(page, `app-${name}-${layout}-${scheme}`);
          for (const v of await axeScan(page)) findings.push(`${layout}/${scheme}/${name}: ${v.id} (${v.impact}) ${v.help} ${v.nodes.join(', ')}`);
          // Nothing overflows the viewport sideways.
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
          assert.ok(overflow <= 0, `${layout}/${name} scrolls sideways by ${overflow}px`);
        }
        noProblems(problems, `${layout}/${scheme}`);
        await context.close();
      }
    }
    assert.deepEqual(findings, [], 'no serious or critical accessibility findings');
  } finally {
    server.stop();
  }
});

// ---- Speed ----------------------------------------------------------------------------------------------

test('the first load of a 20-post feed transfers at most 150 KB before images, and scrolling loads more', async () => {
  const server = await startServer();
  try {
    const user = await createUser(server, { username: 'web_fay' });
    for (let i = 0; i < 24; i++) await postOverApi(server, user.token, `Post ${i + 1} #many`, i + 1);
    const { context, page, problems } = await newPage(browser);
    const devtools = await context.newCDPSession(page);
    await devtools.send('Network.enable');
    await devtools.send('Network.setCacheDisabled', { cacheDisabled: true });
    const types = new Map();
    const sizes = new Map();
    devtools.on('Network.responseReceived', (e) => types.set(e.requestId, { type: e.type, url: e.response.url }));
    devtools.on('Network.loadingFinished', (e) => sizes.set(e.requestId, e.encodedDataLength));
    await page.goto(`${server.origin}/`, { waitUntil: 'load' });
    await page.locator('#posts .card').nth(19).waitFor();
    await page.waitForLoadState('networkidle');
    let total = 0;
    const counted = [];
    for (const [id, size] of sizes) {
      const info = types.get(id);
      if (!info || info.type === 'Image') continue;
      total += size;
      counted.push(`${info.type} ${new URL(info.url).pathname} ${size}`);
    }
    console.log(`first load without images: ${(total / 1024).toFixed(1)} KB over ${counted.length} responses`);
    assert.ok(total <= 150 * 1024, `first load ${total} bytes: ${counted.join('; ')}`);
    assert.equal(await page.locator('#posts .card').count(), 20, 'one page of 20');
    // Only thumbnails in the grid.
    const srcs = await page.locator('#posts img.photo').evaluateAll((imgs) => imgs.map((i) => i.currentSrc || i.src));
    assert.ok(srcs.every((s) => /thumb/.test(s)), `thumbnails only: ${srcs.slice(0, 3)}`);

    // With WebP renditions (as the media engineer adds them): a WebP <source> and the JPEG <img>, each
    // with a srcset of its renditions' widths, and only thumbnails when only thumbnails are asked for.
    const built = await page.evaluate(async () => {
      const base = document.querySelector('script[type=module]').src.replace(/app\.js$/, '');
      const { picture } = await import(base + 'feed.js');
      const r = (name, type, width, ext) => ({ name, content_type: type, width, height: Math.round(width * 0.75), url: `/media/p/x/${name}.${ext}` });
      const post = {
        author: { username: 'x' },
        image: {
          width: 1600, height: 1200, blurhash: '', thumbnail_url: '/media/p/x/thumb.jpg', display_url: '/media/p/x/display.jpg',
          renditions: [r('thumbnail', 'image/webp', 320, 'webp'), r('thumbnail', 'image/jpeg', 320, 'jpg'), r('display', 'image/webp', 1080, 'webp'), r('display', 'image/jpeg', 1080, 'jpg')],
        },
      };
      const describe = (pic) => ({
        sources: [...pic.querySelectorAll('source')].map((s) => [s.type, s.getAttribute('srcset')]),
        img: pic.querySelector('img').getAttribute('srcset'),
      });
      return { both: describe(picture(post, ['thumbnail', 'display'], '100vw', 'a')), thumbs: describe(picture(post, ['thumbnail'], '300px', 'a')) };
    });
    assert.deepEqual(built.both.sources, [['image/webp', `${server.origin}/media/p/x/thumbnail.webp 320w, ${server.origin}/media/p/x/display.webp 1080w`]]);
    assert.equal(built.both.img, `${server.origin}/media/p/x/thumbnail.jpg 320w, ${server.origin}/media/p/x/display.jpg 1080w`);
    assert.deepEqual(built.thumbs.sources, [['image/webp', `${server.origin}/media/p/x/thumbnail.webp 320w`]]);
    assert.equal(built.thumbs.img, `${server.origin}/media/p/x/thumbnail.jpg 320w`);

    // Infinite scroll: the rest arrives when the end of the grid comes near.
    await page.locator('.sentinel').scrollIntoViewIfNeeded();
    await page.locator('#posts .card').nth(23).waitFor();
    await page.locator('.grid-status').filter({ hasText: 'You have seen everything.' }).waitFor();

    // Search by words and by tag, reflected in the URL.
    await page.fill('#search', '#many Post 23');
    await page.click('#filter-form button[type=submit]');
    await page.locator('#feed-title').filter({ hasText: '#many' }).waitFor();
    assert.equal(new URL(page.url()).search, '?tag=many&q=Post+23');
    await page.locator('#posts .card').first().waitFor();
    assert.equal(await page.locator('#posts .card').count(), 1);
    noProblems(problems, 'feed');
    await context.close();
  } finally {
    server.stop();
  }
});

// ---- What the server refuses, said plainly ------------------------------------------------------------

test('the upload explains a 413, a 422 and a 429 (with its Retry-After) in words', async () => {
  const server = await startServer({ env: { RAMPART_POSTS__UPLOAD_LIMIT_BYTES: '4096', RAMPART_POSTS__POSTS_PER_HOUR: '1' } });
  try {
    await createUser(server, { username: 'web_gus' });
    const { context, page, problems } = await newPage(browser);
    await page.goto(`${server.origin}/sign-in?next=%2Fupload`);
    await signInInBrowser(page, 'web_gus');
    await page.locator('#upload-form').waitFor();
    const send = async (name, buffer) => {
      await page.setInputFiles('#image-input', { name, mimeType: 'image/png', buffer });
      await page.click('#upload-submit');
    };

    // Larger than this server's limit, which the app read from /api/v1/instance: refused before
    // anything is sent, naming the limit.
    const big = png(200, 200, 5);
    await send('big.png', big);
    await page.locator('#image-error').filter({ hasText: 'the largest image Rampart accepts is 4 KB.' }).waitFor();

    // A server that does not say its limit (one from before /api/v1/instance, played here by
    // refusing that one request): the app assumes 10 MB and explains the server's 413 instead.
    const older = await context.newPage();
    const olderProblems = watch(older);
    await older.route('**/api/v1/instance', (r) => r.fulfill({ status: 410, body: '' }));
    await older.goto(`${server.origin}/upload`);
    await older.locator('#upload-form').waitFor();
    await older.setInputFiles('#image-input', { name: 'big.png', mimeType: 'image/png', buffer: big });
    await older.click('#upload-submit');
    await older.locator('#image-error').filter({ hasText: 'The image is too large' }).waitFor();
    expected(olderProblems, 413);
    expected(olderProblems, 410);
    noProblems(olderProblems, 'a server without its limit');
    await older.close();

    // Cut short: the server cannot decode it.
    const whole = png(20, 20, 6);
    await send('cut.png', whole.subarray(0, whole.length - 30));
    await page.locator('#image-error').filter({ hasText: 'The image looks damaged or incomplete.' }).waitFor();
    expected(problems, 422);

    // One post an hour: the first goes through, the second is told when it may try again.
    await send('ok.png', png(16, 16, 7));
    await page.locator('#message').filter({ hasText: 'Your post is published.' }).waitFor();
    await page.goto(`${server.origin}/upload`);
    await send('again.png', png(16, 16, 8));
    await page.locator('#image-error').filter({ hasText: /posting limit for now\. You can post again in \d+ minutes\./ }).waitFor();
    expected(problems, 429);
    await screenshot(page, 'app-upload-refused');
    noProblems(problems, 'refusals');
    await context.close();
  } finally {
    server.stop();
  }
});

// ---- Settings ---------------------------------------------------------------------------------------------

test('settings: profile, email change through the mailed link, export, sessions with revoke, and a revoked session is told', async () => {
  const server = await startServer();
  try {
    await createUser(server, { username: 'web_hal' });
    const { context, page, problems } = await newPage(browser);
    await page.goto(`${server.origin}/settings`);
    await page.locator('#sign-in-form').waitFor();
    await page.goto(`${server.origin}/sign-in?next=%2Fsettings%2Fprofile`);
    await signInInBrowser(page, 'web_hal');

    // Profile: display name and bio, shown on the profile page.
    await page.locator('#profile-form').waitFor();
    await page.fill('#profile-display-name', 'Hal Hills');
    await page.fill('#profile-bio', 'Mountains, mostly.');
    await page.click('#profile-form button[type=submit]');
    await page.locator('#message').filter({ hasText: 'Your profile is saved.' }).waitFor();
    await page.click('#whoami');
    await page.locator('.profile-name').filter({ hasText: 'Hal Hills' }).waitFor();
    await page.locator('.bio').filter({ hasText: 'Mountains, mostly.' }).waitFor();
    await page.locator('.grid-wrap .empty').filter({ hasText: 'You have not posted yet.' }).waitFor();

    // A refused field is marked and explained next to it.
    await page.goto(`${server.origin}/settings/account`);
    await page.fill('#pw-current', PASSWORD);
    await page.fill('#pw-new', 'short');
    await page.locator('#password-form').evaluate((f) => (f.noValidate = true));
    await page.click('#password-form button[type=submit]');
    await page.locator('#pw-new-error').filter({ hasText: 'The new password must be at least 8 characters.' }).waitFor();
    assert.equal(await page.getAttribute('#pw-new', 'aria-invalid'), 'true');
    assert.match(await page.getAttribute('#pw-new', 'aria-describedby'), /pw-new-error/);
    await page.locator('#message').filter({ hasText: 'The new password must be at least 8 characters.' }).waitFor();
    expected(problems, 422);

    // Email change: confirmed from the new address's link, which opens signed in.
    await page.fill('#email-new', 'hal.new@example.com');
    await page.fill('#email-password', PASSWORD);
    await page.click('#email-form button[type=submit]');
    await page.locator('#message').filter({ hasText: 'We sent a confirmation link to hal.new@example.com.' }).waitFor();
    const link = await lastMailLink(server.dataDir, 'hal.new@example.com', '/confirm-email');
    await page.goto(link);
    await page.locator('#link-status').filter({ hasText: 'Your account’s address is now hal.new@example.com.' }).waitFor();
    await page.goto(`${server.origin}/settings/account`);
    await page.locator('#current-email').filter({ hasText: 'hal.new@example.com' }).waitFor();

    // Export: a JSON download.
    await page.goto(`${server.origin}/settings/data`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    assert.match(download.suggestedFilename(), /^rampart-web_hal-export\.json$/);
    const exported = JSON.parse(await (await import('node:fs/promises')).readFile(await download.path(), 'utf8'));
    assert.equal(exported.user.username, 'web_hal');

    // Sessions: this device is marked; another one can be revoked.
    const elsewhere = await signIn(server, 'web_hal');
    await page.goto(`${server.origin}/settings/sessions`);
    await page.locator('#session-list .session.current').waitFor();
    const before = await page.locator('#session-list .session').count();
    await page.locator('#session-list .session:not(.current) button').first().click();
    await page.locator('#message').filter({ hasText: 'That session is signed out.' }).waitFor();
    await page.waitForFunction((n) => document.querySelectorAll('#session-list .session').length === n - 1, before);
    await screenshot(page, 'app-settings-sessions');

    // This browser's session revoked from elsewhere: the tab says so when it looks again (on focus).
    const other = await signIn(server, 'web_hal');
    const list = await apiCall(server, 'GET', '/api/v1/auth/sessions', { token: other.access_token });
    const browserSession = list.json.items.find((s) => /Chrome/.test(s.user_agent || ''));
    assert.ok(browserSession, 'the browser has a session');
    const revoked = await apiCall(server, 'DELETE', `/api/v1/auth/sessions/${browserSession.id}`, { token: other.access_token });
    assert.equal(revoked.status, 204);
    void elsewhere;
    await page.evaluate(() => window.dispatchEvent(new Event('focus')));
    await page.locator('#message').filter({ hasText: 'You were signed out' }).waitFor();
    await page.locator('#sign-in-form').waitFor();
    expected(problems, 401);
    noProblems(problems, 'settings');
    await context.close();
  } finally {
    server.stop();
  }
});

// ---- The way into the admin console ----------------------------------------------------------------------

test('the console link is for staff only, and /admin signed out asks to sign in and comes back', async () => {
  const server = await startServer();
  try {
    await createUser(server, { username: 'web_ivy', role: 'moderator' });
    await createUser(server, { username: 'web_jon' });
    const { context, page, problems } = await newPage(browser);
    await page.goto(`${server.origin}/admin`);
    await page.locator('#sign-in-form').waitFor();
    await page.locator('.auth-panel').filter({ hasText: 'Sign in to open the console.' }).waitFor();
    await signInInBrowser(page, 'web_ivy');
    await page.waitForURL(/\/admin/);
    await page.locator('#nav-console').waitFor();
    assert.equal(await page.locator('#nav-console').getAttribute('aria-current'), 'page');
    await page.click('#sign-out');
    await page.locator('#message').filter({ hasText: 'You are signed out.' }).waitFor();
    assert.equal(await page.locator('#nav-console').count(), 0);

    await page.goto(`${server.origin}/sign-in`);
    await signInInBrowser(page, 'web_jon');
    assert.equal(await page.locator('#nav-console').count(), 0, 'no console link for a plain user');
    noProblems(problems, 'console link');
    await context.close();
  } finally {
    server.stop();
  }
});

test('deleting the account signs out every tab and says so', async () => {
  const server = await startServer();
  try {
    await createUser(server, { username: 'web_kim' });
    const { context, page, problems } = await newPage(browser);
    await page.goto(`${server.origin}/sign-in?next=%2Fsettings%2Fdata`);
    await signInInBrowser(page, 'web_kim');
    const other = await context.newPage();
    const otherProblems = watch(other);
    await other.goto(`${server.origin}/`);
    await other.locator('#whoami-name').filter({ hasText: '@web_kim' }).waitFor();

    await page.fill('#delete-password', PASSWORD);
    await page.click('#delete-form button[type=submit]');
    await page.locator('dialog[open] button.danger').click();
    await page.locator('#message').filter({ hasText: 'Your account is deleted.' }).waitFor();
    await other.locator('#message').filter({ hasText: 'signed out' }).waitFor();
    assert.equal(await other.locator('#whoami-name').count(), 0);
    const gone = await apiCall(server, 'GET', '/api/v1/users/web_kim');
    assert.equal(gone.status, 404);
    noProblems([...problems, ...otherProblems], 'delete account');
    await context.close();
  } finally {
    server.stop();
  }
});
