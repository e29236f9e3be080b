// Rampart's web client: plain browser JavaScript with no build step and no third-party code.
// User content (captions, names, tags) is only ever written with textContent. The access token
// lives in memory; the refresh token (body mode) in sessionStorage, so it dies with the tab.
'use strict';

(function () {
  const REFRESH_KEY = 'rampart.refresh_token';
  const $ = (id) => document.getElementById(id);

  // ---- Messages -------------------------------------------------------------------------------

  function say(text, kind) {
    const el = $('message');
    el.textContent = text;
    el.className = 'notice' + (kind ? ' ' + kind : '');
    el.hidden = !text;
  }

  // The problem+json `detail`, followed by the per-field messages when there are any.
  async function problemText(res) {
    let body = null;
    try {
      body = await res.json();
    } catch (_) {} // not a problem document (a proxy's error page, say)
    if (!body || typeof body.detail !== 'string') return 'The request failed (' + res.status + ').';
    const fields = [];
    for (const [field, messages] of Object.entries(body.errors || {})) {
      for (const m of messages) {
        if (m !== body.detail) fields.push(field.replace(/_/g, ' ') + ' ' + m + '.');
      }
    }
    return [body.detail].concat(fields).join(' ');
  }

  const UNREACHABLE = 'Rampart could not be reached. Check your connection and try again.';

  // Runs `handler(form)` on submit with the submit button disabled, reporting network failures.
  function onSubmit(form, handler) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        await handler(form);
      } catch (_) {
        say(UNREACHABLE, 'error');
      } finally {
        button.disabled = false;
      }
    });
  }

  function jsonRequest(body) {
    return { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  }

  // ---- Session --------------------------------------------------------------------------------

  let accessToken = null;
  let me = null;
  // Refreshes are serialised: presenting a refresh token twice ends the whole session.
  let refreshing = null;

  function startSession(body) {
    accessToken = body.access_token;
    me = body.user;
    if (body.refresh_token) sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
  }

  function endSession() {
    accessToken = null;
    me = null;
    sessionStorage.removeItem(REFRESH_KEY);
  }

  function refreshSession() {
    if (!refreshing) {
      refreshing = (async () => {
        const token = sessionStorage.getItem(REFRESH_KEY);
        if (!token) return false;
        const res = await fetch('/api/v1/auth/refresh', jsonRequest({ refresh_token: token }));
        if (res.status === 401) endSession();
        if (!res.ok) return false;
        startSession(await res.json());
        return true;
      })()
        .catch(() => false)
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }

  // The problem `code` of an answer, read from a copy so the caller can still read the body.
  async function problemCode(res) {
    try {
      return (await res.clone().json()).code;
    } catch (_) {
      return null;
    }
  }

  // Calls the API with the access token; after a 401 for an expired token it refreshes once and
  // tries again. A 401 that asks for a step-up is the caller's to handle (see `sensitive`).
  async function api(path, init) {
    const send = () => {
      const headers = new Headers((init && init.headers) || {});
      if (accessToken) headers.set('Authorization', 'Bearer ' + accessToken);
      return fetch(path, Object.assign({}, init, { headers }));
    };
    const res = await send();
    if (res.status !== 401 || (await problemCode(res)) === 'reauthentication_required') return res;
    if (!(await refreshSession())) return res;
    return send();
  }

  // ---- Step-up: actions that need a recent sign-in ----------------------------------------------

  let stepUpDone = null;

  // Shows the "confirm it is you" form; resolves true once the server accepted the confirmation.
  function askStepUp() {
    $('step-up').hidden = false;
    $('step-up-form').elements.password.focus();
    return new Promise((resolve) => {
      stepUpDone = resolve;
    });
  }

  function closeStepUp(result) {
    $('step-up').hidden = true;
    $('step-up-form').reset();
    if (stepUpDone) stepUpDone(result);
    stepUpDone = null;
  }

  // `api`, asking the user to confirm who they are and retrying once when the server wants a step-up.
  async function sensitive(path, init) {
    const res = await api(path, init);
    if (res.status !== 401 || (await problemCode(res)) !== 'reauthentication_required') return res;
    say('Please confirm it is you to continue.');
    if (!(await askStepUp())) return res;
    return api(path, init);
  }

  function jsonInit(method, body) {
    return { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  }

  // A typed second factor: six digits are an app code, anything else a recovery code.
  function factorBody(typed) {
    const value = typed.trim();
    return /^[0-9]{6}$/.test(value) ? { code: value } : { recovery_code: value };
  }

  // ---- Pages opened from mail links -----------------------------------------------------------

  // Reads the token and removes it from the address bar, so it stays out of history and bookmarks.
  function takeToken() {
    const token = new URLSearchParams(location.search).get('token');
    history.replaceState(null, '', location.pathname);
    if (!token) say('This link has no token. Open the link from the mail again.', 'error');
    return token;
  }

  // POSTs to a token endpoint; calls `done` with the JSON answer (or null for 204) on success.
  async function postToken(path, body, done) {
    try {
      const res = await fetch(path, jsonRequest(body));
      if (!res.ok) {
        say(await problemText(res), 'error');
        return false;
      }
      done(res.status === 204 ? null : await res.json());
      return true;
    } catch (_) {
      say(UNREACHABLE, 'error');
      return false;
    }
  }

  function verifyPage() {
    const token = takeToken();
    if (!token) return;
    postToken('/api/v1/auth/verify-email', { token }, () => {
      say('Your email address is verified. You can post now.', 'ok');
    });
  }

  function confirmPage() {
    const token = takeToken();
    if (!token) return;
    postToken('/api/v1/auth/email/confirm', { token }, (user) => {
      say('Your account’s address is now ' + user.email + '.', 'ok');
    });
  }

  function resetPage() {
    const token = takeToken();
    const form = $('reset-form');
    if (!token) {
      form.hidden = true;
      return;
    }
    onSubmit(form, async () => {
      const password = form.elements.new_password.value;
      if (password !== form.elements.repeat.value) {
        say('The two passwords are not the same.', 'error');
        return;
      }
      say('Saving…');
      const body = { token, new_password: password };
      const ok = await postToken('/api/v1/auth/password/reset', body, () => {
        // Every session of the account has ended, this tab's included.
        sessionStorage.removeItem(REFRESH_KEY);
        say('Your password is changed and every session was signed out. Sign in with the new password.', 'ok');
      });
      if (ok) form.hidden = true;
    });
  }

  // ---- The app: account, feed, posting --------------------------------------------------------

  const feed = { tag: '', q: '', cursor: null, generation: 0 };

  function renderAccount() {
    const signedIn = me !== null;
    $('auth').hidden = signedIn || challenge !== null;
    $('second-factor').hidden = signedIn || challenge === null;
    $('security').hidden = !signedIn;
    if (signedIn) loadFactors().catch(() => {});
    if (signedIn) loadPasskeys().catch(() => {});
    $('whoami').hidden = !signedIn;
    $('compose').hidden = !signedIn;
    $('unverified').hidden = !signedIn || me.email_verified;
    $('whoami-name').textContent = signedIn ? '@' + me.username : '';
  }

  // ---- Two-step sign-in: the authenticator app and recovery codes -------------------------------

  // The challenge of a sign-in whose password passed and which waits for the second factor.
  let challenge = null;

  async function loadFactors() {
    const res = await api('/api/v1/me/mfa');
    if (!res.ok) return;
    const factors = await res.json();
    $('mfa-status').textContent = factors.totp
      ? 'On: signing in asks for a code from your authenticator app. Recovery codes left: ' + factors.recovery_codes_left + '.'
      : 'Off: signing in needs only your password.';
    $('mfa-enrol').hidden = factors.totp || !$('mfa-enrolment').hidden;
    $('mfa-manage').hidden = !factors.totp;
  }

  function showCodes(codes) {
    const list = $('mfa-code-list');
    list.replaceChildren(
      ...codes.map((code) => {
        const item = document.createElement('li');
        item.textContent = code;
        return item;
      })
    );
    $('mfa-codes').hidden = false;
  }

  function wireFactors() {
    $('mfa-enrol').addEventListener('click', async () => {
      try {
        const res = await sensitive('/api/v1/me/mfa/totp', { method: 'POST' });
        if (res.status !== 201) return say(await problemText(res), 'error');
        const enrolment = await res.json();
        // As an image, the SVG can run nothing and needs no inline style.
        $('mfa-qr').src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(enrolment.qr_svg);
        $('mfa-secret').textContent = enrolment.secret;
        $('mfa-enrolment').hidden = false;
        $('mfa-enrol').hidden = true;
        $('mfa-confirm-form').elements.code.focus();
      } catch (_) {
        say(UNREACHABLE, 'error');
      }
    });

    onSubmit($('mfa-confirm-form'), async (form) => {
      const res = await api('/api/v1/me/mfa/totp/confirm', jsonInit('POST', { code: form.elements.code.value.trim() }));
      if (!res.ok) return say(await problemText(res), 'error');
      form.reset();
      $('mfa-enrolment').hidden = true;
      $('mfa-secret').textContent = '';
      showCodes((await res.json()).recovery_codes);
      say('Two-step sign-in is on. Save your recovery codes now.', 'ok');
      await loadFactors();
    });

    $('mfa-new-codes').addEventListener('click', async () => {
      try {
        const res = await sensitive('/api/v1/me/mfa/recovery-codes', { method: 'POST' });
        if (!res.ok) return say(await problemText(res), 'error');
        showCodes((await res.json()).recovery_codes);
        say('New recovery codes: the old ones no longer work.', 'ok');
        await loadFactors();
      } catch (_) {
        say(UNREACHABLE, 'error');
      }
    });

    onSubmit($('mfa-disable-form'), async (form) => {
      const body = Object.assign({ password: form.elements.password.value }, factorBody(form.elements.factor.value));
      const res = await api('/api/v1/me/mfa/totp', jsonInit('DELETE', body));
      if (res.status !== 204) return say(await problemText(res), 'error');
      form.reset();
      $('mfa-codes').hidden = true;
      say('Two-step sign-in is off.', 'ok');
      await loadFactors();
    });

    onSubmit($('second-factor-form'), async (form) => {
      const typed = form.elements.code.value || form.elements.recovery_code.value;
      if (!typed.trim()) return say('Enter a code from your app or a recovery code.', 'error');
      const body = Object.assign({ challenge }, factorBody(typed));
      const res = await fetch('/api/v1/auth/mfa/verify', jsonRequest(body));
      if (!res.ok) {
        if ((await problemCode(res)) === 'invalid_mfa_challenge') {
          challenge = null;
          renderAccount();
        }
        return say(await problemText(res), 'error');
      }
      form.reset();
      challenge = null;
      signedIn(await res.json());
    });

    $('second-factor-cancel').addEventListener('click', () => {
      challenge = null;
      $('second-factor-form').reset();
      say('');
      renderAccount();
    });

    onSubmit($('step-up-form'), async (form) => {
      const password = form.elements.password.value;
      const code = form.elements.code.value.trim();
      if (!password && !code) return say('Enter your password or a code.', 'error');
      const body = password ? { password } : factorBody(code);
      const res = await api('/api/v1/auth/reauthenticate', jsonInit('POST', body));
      if (res.status !== 204) return say(await problemText(res), 'error');
      say('');
      closeStepUp(true);
    });

    $('step-up-cancel').addEventListener('click', () => closeStepUp(false));
  }

  // ---- Passkeys (WebAuthn) ----------------------------------------------------------------------

  const passkeysSupported = Boolean(window.PublicKeyCredential && navigator.credentials);

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;
  }

  function toBase64url(buffer) {
    let binary = '';
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // The server's options carry binary fields as base64url; the browser wants ArrayBuffers.
  function withBuffers(options) {
    const pk = Object.assign({}, options.publicKey);
    pk.challenge = fromBase64url(pk.challenge);
    if (pk.user) pk.user = Object.assign({}, pk.user, { id: fromBase64url(pk.user.id) });
    for (const list of ['excludeCredentials', 'allowCredentials']) {
      if (pk[list]) pk[list] = pk[list].map((c) => Object.assign({}, c, { id: fromBase64url(c.id) }));
    }
    return { publicKey: pk };
  }

  // The browser's credential as the JSON the API takes (binary fields in base64url).
  function credentialJson(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    };
  }

  // Runs a ceremony in the browser; null when the user cancels it.
  async function ceremony(kind, options) {
    try {
      const credential = await navigator.credentials[kind](withBuffers(options));
      return credential ? credentialJson(credential) : null;
    } catch (_) {
      say('The passkey was not used (cancelled, or not available here).', 'error');
      return null;
    }
  }

  async function loadPasskeys() {
    $('passkeys-unsupported').hidden = passkeysSupported;
    $('passkey-add-form').hidden = !passkeysSupported;
    const res = await api('/api/v1/me/passkeys');
    if (!res.ok) return;
    const list = $('passkey-list');
    list.replaceChildren(...(await res.json()).map(renderPasskey));
  }

  function renderPasskey(passkey) {
    const item = $('passkey-template').content.firstElementChild.cloneNode(true);
    item.querySelector('.name').textContent = passkey.name;
    item.querySelector('.used').textContent = passkey.last_used_at
      ? '(last used ' + new Date(passkey.last_used_at).toLocaleString() + ')'
      : '(not used yet)';
    const path = '/api/v1/me/passkeys/' + encodeURIComponent(passkey.id);
    item.querySelector('.rename').addEventListener('click', async () => {
      const name = prompt('New name for this passkey', passkey.name);
      if (name === null) return;
      const res = await api(path, jsonInit('PATCH', { name }));
      if (!res.ok) return say(await problemText(res), 'error');
      await loadPasskeys();
    });
    item.querySelector('.remove').addEventListener('click', async () => {
      if (!confirm('Remove the passkey “' + passkey.name + '”?')) return;
      const res = await sensitive(path, { method: 'DELETE' });
      if (res.status !== 204) return say(await problemText(res), 'error');
      say('The passkey is removed.', 'ok');
      await loadPasskeys();
    });
    return item;
  }

  function wirePasskeys() {
    $('passkey-sign-in').hidden = !passkeysSupported;
    $('passkey-sign-in').addEventListener('click', async () => {
      const res = await fetch('/api/v1/auth/passkey/options', { method: 'POST' });
      if (!res.ok) return say(await problemText(res), 'error');
      const started = await res.json();
      const credential = await ceremony('get', started.options);
      if (!credential) return;
      const done = await fetch('/api/v1/auth/passkey', jsonRequest({ ceremony: started.ceremony, credential }));
      if (!done.ok) return say(await problemText(done), 'error');
      signedIn(await done.json());
    });

    $('second-factor-passkey').addEventListener('click', async () => {
      const res = await fetch('/api/v1/auth/mfa/passkey/options', jsonRequest({ challenge }));
      if (!res.ok) return say(await problemText(res), 'error');
      const started = await res.json();
      const credential = await ceremony('get', started.options);
      if (!credential) return;
      const body = { challenge, passkey: { ceremony: started.ceremony, credential } };
      const done = await fetch('/api/v1/auth/mfa/verify', jsonRequest(body));
      if (!done.ok) return say(await problemText(done), 'error');
      challenge = null;
      signedIn(await done.json());
    });

    onSubmit($('passkey-add-form'), async (form) => {
      const res = await sensitive('/api/v1/me/passkeys/options', { method: 'POST' });
      if (!res.ok) return say(await problemText(res), 'error');
      const started = await res.json();
      const credential = await ceremony('create', started.options);
      if (!credential) return;
      const body = { ceremony: started.ceremony, name: form.elements.name.value, credential };
      const done = await api('/api/v1/me/passkeys', jsonInit('POST', body));
      if (done.status !== 201) return say(await problemText(done), 'error');
      form.reset();
      say('The passkey is added. You can sign in with it now.', 'ok');
      await loadPasskeys();
    });
  }

  // Media may live on another origin (S3, ImageKit), but only as http(s).
  function safeUrl(url) {
    try {
      const u = new URL(url, location.href);
      return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : '';
    } catch (_) {
      return '';
    }
  }

  function renderPost(post) {
    const item = $('post-template').content.firstElementChild.cloneNode(true);
    const author = post.author;
    const full = safeUrl(post.image.display_url);
    if (full) item.querySelector('.full').href = full;
    const img = item.querySelector('.thumb');
    img.src = safeUrl(post.image.thumbnail_url);
    img.alt = post.caption || 'A picture by @' + author.username;
    item.querySelector('.caption').textContent = post.caption;
    const tags = item.querySelector('.tags');
    for (const raw of post.tags) {
      const tag = raw.replace(/^#/, '');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'link tag';
      button.textContent = '#' + tag;
      button.addEventListener('click', () => showTag(tag));
      tags.append(button, ' ');
    }
    item.querySelector('.author').textContent = author.display_name
      ? author.display_name + ' (@' + author.username + ')'
      : '@' + author.username;
    const time = item.querySelector('time');
    time.dateTime = post.created_at;
    time.textContent = new Date(post.created_at).toLocaleString();
    if (me && me.id === author.id) {
      const del = item.querySelector('.delete');
      del.hidden = false;
      del.addEventListener('click', () => deletePost(post, item));
    }
    return item;
  }

  // Loads the next page, or the first one when `fresh`; answers to superseded loads are dropped.
  async function loadFeed(fresh) {
    if (fresh) {
      feed.generation += 1;
      feed.cursor = null;
    }
    const generation = feed.generation;
    const params = new URLSearchParams({ limit: '24' });
    if (feed.tag) params.set('tag', feed.tag);
    if (feed.q) params.set('q', feed.q);
    if (feed.cursor) params.set('cursor', feed.cursor);
    let res;
    try {
      res = await fetch('/api/v1/posts?' + params);
    } catch (_) {
      say(UNREACHABLE, 'error');
      return;
    }
    const page = res.ok ? await res.json() : { items: [], next_cursor: null };
    if (generation !== feed.generation) return;
    if (!res.ok) say(await problemText(res), 'error');
    const list = $('posts');
    if (fresh) list.replaceChildren();
    list.append(...page.items.map(renderPost));
    feed.cursor = page.next_cursor;
    $('more').hidden = !feed.cursor;
    $('feed-empty').hidden = list.children.length > 0;
  }

  function showTag(tag) {
    const form = $('filter-form');
    form.elements.tag.value = '#' + tag;
    form.elements.q.value = '';
    feed.tag = tag;
    feed.q = '';
    loadFeed(true);
  }

  async function deletePost(post, item) {
    if (!confirm('Delete this post? This cannot be undone.')) return;
    try {
      const res = await api('/api/v1/posts/' + encodeURIComponent(post.id), { method: 'DELETE' });
      if (res.status !== 204) return say(await problemText(res), 'error');
      item.remove();
      $('feed-empty').hidden = $('posts').children.length > 0;
      say('The post is deleted.', 'ok');
    } catch (_) {
      say(UNREACHABLE, 'error');
    }
  }

  // One key per submission, so a retried request cannot create the post twice.
  function idempotencyKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function signedIn(body) {
    startSession(body);
    say('');
    renderAccount();
    loadFeed(true);
  }

  async function refreshAccount() {
    const res = await api('/api/v1/me');
    if (res.ok) me = await res.json();
    else if (res.status === 401) endSession();
    renderAccount();
  }

  function wireApp() {
    wireFactors();
    wirePasskeys();
    onSubmit($('sign-in-form'), async (form) => {
      const body = { login: form.elements.login.value.trim(), password: form.elements.password.value };
      const res = await fetch('/api/v1/auth/login', jsonRequest(body));
      if (!res.ok) return say(await problemText(res), 'error');
      form.reset();
      if (res.status === 202) {
        // The password passed; the account also asks for its second factor.
        const asked = await res.json();
        challenge = asked.challenge;
        $('second-factor-passkey').hidden = !passkeysSupported || !asked.methods.includes('passkey');
        renderAccount();
        say(asked.methods.includes('totp') ? 'Enter the code from your authenticator app.' : 'Use your passkey.');
        $('second-factor-form').elements.code.focus();
        return;
      }
      signedIn(await res.json());
    });

    onSubmit($('register-form'), async (form) => {
      const f = form.elements;
      const body = { username: f.username.value.trim(), email: f.email.value.trim(), password: f.password.value };
      if (f.display_name.value.trim()) body.display_name = f.display_name.value.trim();
      const res = await fetch('/api/v1/auth/register', jsonRequest(body));
      if (!res.ok) return say(await problemText(res), 'error');
      form.reset();
      signedIn(await res.json());
      say('Welcome! We sent you a mail to verify your address.', 'ok');
    });

    onSubmit($('forgot-form'), async (form) => {
      const res = await fetch('/api/v1/auth/password/forgot', jsonRequest({ email: form.elements.email.value.trim() }));
      if (!res.ok) return say(await problemText(res), 'error');
      form.reset();
      say('If an account has this address, a reset link is on its way.', 'ok');
    });

    $('resend').addEventListener('click', async () => {
      try {
        const res = await api('/api/v1/auth/verify-email/resend', { method: 'POST' });
        if (res.status === 409) await refreshAccount();
        if (!res.ok) return say(await problemText(res), 'error');
        say('The verification mail is on its way.', 'ok');
      } catch (_) {
        say(UNREACHABLE, 'error');
      }
    });

    onSubmit($('upload-form'), async (form) => {
      const image = form.elements.image.files[0];
      if (!image) return say('Choose an image first.', 'error');
      const data = new FormData();
      data.append('image', image);
      data.append('caption', form.elements.caption.value);
      say('Uploading…');
      const init = { method: 'POST', headers: { 'Idempotency-Key': idempotencyKey() }, body: data };
      const res = await api('/api/v1/posts', init);
      if (res.status !== 201) return say(await problemText(res), 'error');
      form.reset();
      say('Posted.', 'ok');
      loadFeed(true);
    });

    onSubmit($('filter-form'), async (form) => {
      feed.tag = form.elements.tag.value.trim();
      feed.q = form.elements.q.value.trim();
      say('');
      await loadFeed(true);
    });

    $('clear-filter').addEventListener('click', () => {
      $('filter-form').reset();
      feed.tag = '';
      feed.q = '';
      loadFeed(true);
    });

    $('more').addEventListener('click', () => loadFeed(false));

    $('sign-out').addEventListener('click', async () => {
      try {
        await api('/api/v1/auth/logout', { method: 'POST' });
      } catch (_) {
        // The session ends here either way; the server's ends at its idle timeout.
      }
      endSession();
      $('mfa-codes').hidden = true;
      $('mfa-enrolment').hidden = true;
      renderAccount();
      loadFeed(true);
      say('You are signed out.', 'ok');
    });

    // The address may have been verified in another tab meanwhile.
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && me && !me.email_verified) refreshAccount().catch(() => {});
    });
  }

  async function appPage() {
    wireApp();
    if (sessionStorage.getItem(REFRESH_KEY)) await refreshSession();
    renderAccount();
    loadFeed(true);
  }

  const pages = { app: appPage, verify: verifyPage, reset: resetPage, confirm: confirmPage };
  const start = pages[document.body.dataset.page];
  if (start) start();
})();
