// Rampart's web app, shared core: the DOM helper, messages, the session (shared by every tab through
// the HttpOnly refresh cookie), the API call with transparent refresh, step-up and client-side
// navigation. Plain browser JavaScript, no build step, no third-party code. User content is only ever
// written as text nodes or properties, never as markup.

// ---- DOM ---------------------------------------------------------------------------------------

// el('a', {href: '/', className: 'brand'}, 'Rampart'): attributes are set as properties when the
// element has one (className, hidden, value, onclick…), otherwise as attributes (aria-*, data-*, for).
// Children: nodes, strings (text nodes), arrays, or null/false (skipped).
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (key in node && !key.includes('-')) {
      node[key] = value;
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

// A settings panel: <section class="panel"> labelled by its <h2 id="<name>-title">, then `children`.
// `extraClass` adds to `panel` (e.g. 'danger-zone').
export function panel(name, title, extraClass, ...children) {
  const id = name + '-title';
  return el('section', { className: extraClass ? 'panel ' + extraClass : 'panel', 'aria-labelledby': id }, el('h2', { id }, title), ...children);
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// ---- Messages ----------------------------------------------------------------------------------

// Writes a message into the page's aria-live region. kind: 'ok' | 'error' | undefined.
export function say(text, kind) {
  const region = document.getElementById('message');
  if (!region) return;
  if (!text) {
    region.replaceChildren();
    return;
  }
  const close = el('button', { type: 'button', className: 'notice-close', 'aria-label': 'Dismiss the message' }, '×');
  const note = el('div', { className: 'notice' + (kind ? ' ' + kind : '') }, el('p', {}, sentence(text)), close);
  close.addEventListener('click', () => note.remove());
  region.replaceChildren(note);
}

// A sentence: a capital first letter and a full stop at the end.
export function sentence(text) {
  let s = String(text).trim();
  if (!s) return s;
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?…:]$/.test(s) ? s : s + '.';
}

export const UNREACHABLE = 'Rampart could not be reached. Check your connection and try again.';

const FIELD_LABELS = {
  username: 'The username',
  email: 'The email address',
  new_email: 'The new email address',
  password: 'The password',
  new_password: 'The new password',
  current_password: 'The current password',
  display_name: 'The display name',
  bio: 'The bio',
  caption: 'The caption',
  image: 'The image',
  name: 'The name',
  code: 'The code',
};

function waitText(seconds) {
  const s = Number(seconds);
  if (!Number.isFinite(s) || s <= 0) return 'a moment';
  if (s < 90) return s + (s === 1 ? ' second' : ' seconds');
  const m = Math.ceil(s / 60);
  if (m < 90) return m + ' minutes';
  return Math.ceil(m / 60) + ' hours';
}

// Sentences for codes whose server wording is not the best thing to show in the app.
const CODE_TEXT = {
  invalid_credentials: () => 'The username, email or password is wrong.',
  rate_limited: (_, retry) => 'Too many attempts for now. Try again in ' + waitText(retry) + '.',
  payload_too_large: () => 'The image is too large: Rampart accepts images up to ' + formatBytes(UPLOAD_LIMIT) + '. Choose a smaller one or export it at a lower size.',
  unsupported_image_type: () => 'Rampart cannot read this kind of file. Choose a JPEG, PNG, GIF or WebP image.',
  malformed_image: () => 'The image looks damaged or incomplete. Try exporting it again.',
  image_too_large: () => 'The image has too many pixels. Make it smaller (at most 12000 pixels on a side) and try again.',
  empty_file: () => 'The file is empty. Choose another image.',
  polyglot_rejected: () => 'This file contains more than an image, so Rampart refused it. Export it again as a plain image.',
  idempotency_key_reused: () => 'This upload was already sent with different content. Choose the image again.',
  email_unverified: () => 'Verify your email address before posting: follow the link in the mail we sent you.',
  session_ended: () => 'Your session has ended. Sign in again.',
  invalid_refresh_token: () => 'Your session has ended. Sign in again.',
  refresh_token_reused: () => 'Your session was ended for safety. Sign in again.',
  precondition_failed: () => 'This post was changed elsewhere in the meantime.',
  service_unavailable: () => 'Rampart is busy right now. Try again in a moment.',
  internal_error: () => 'Something went wrong on the server. Try again later.',
};

// When the answer is not a problem document (a proxy's error page), the status still says a lot.
const STATUS_TEXT = {
  413: CODE_TEXT.payload_too_large,
  415: CODE_TEXT.unsupported_image_type,
  429: CODE_TEXT.rate_limited,
  502: () => 'Rampart could not be reached through its proxy. Try again in a moment.',
  503: CODE_TEXT.service_unavailable,
  504: () => 'Rampart took too long to answer. Try again in a moment.',
};

// One sentence (or a few) for a problem+json body: the `code`'s own wording, else `detail`, and the
// per-field messages of `errors`, each as "The <field> <message>."
export function problemSentence(status, body, retryAfter) {
  const parts = [];
  const code = body && body.code;
  const errors = (body && body.errors) || {};
  const fieldTexts = [];
  for (const [field, messages] of Object.entries(errors)) {
    for (const m of [].concat(messages)) {
      const text = String(m).trim();
      if (!text) continue;
      if (/^[A-Z]/.test(text)) fieldTexts.push(sentence(text));
      else fieldTexts.push(sentence((FIELD_LABELS[field] || 'The ' + field.replace(/_/g, ' ')) + ' ' + text));
    }
  }
  if (code && CODE_TEXT[code]) parts.push(CODE_TEXT[code](body, retryAfter));
  else if (code === 'validation_failed' && fieldTexts.length) {
    // The field messages say it all.
  } else if (body && typeof body.detail === 'string' && body.detail.trim()) parts.push(sentence(body.detail));
  else parts.push('The request failed (error ' + status + ').');
  for (const t of fieldTexts) if (!parts.includes(t)) parts.push(t);
  return parts.join(' ');
}

// The sentence for a failed response (reads its body).
export async function problemText(res) {
  let body = null;
  try {
    body = await res.clone().json();
  } catch (_) {
    // not a problem document (a proxy's error page, say)
  }
  return problemSentence(res.status, body, res.headers.get('Retry-After'));
}

async function problemCode(res) {
  try {
    return (await res.clone().json()).code || null;
  } catch (_) {
    return null;
  }
}

// posts.upload_limit_bytes: the default until GET /api/v1/instance has answered (loadInstance).
export let UPLOAD_LIMIT = 10 * 1024 * 1024;
let instance = null;

// The instance's limits, asked once per page; importers see UPLOAD_LIMIT change (a live binding).
export function loadInstance() {
  instance ??= fetch('/api/v1/instance')
    .then((res) => (res.ok ? res.json() : null))
    .then((body) => {
      if (body && Number.isFinite(body.upload_limit_bytes)) UPLOAD_LIMIT = body.upload_limit_bytes;
      return body;
    })
    .catch(() => null);
  return instance;
}

export function formatBytes(n) {
  if (n >= 1024 * 1024) return (n / 1024 / 1024).toFixed(n % (1024 * 1024) ? 1 : 0) + ' MB';
  if (n >= 1024) return Math.round(n / 1024) + ' KB';
  return n + ' bytes';
}

// ---- Session -----------------------------------------------------------------------------------
//
// Cookie mode: the refresh token is an HttpOnly cookie every tab shares; the CSRF token that must
// accompany a refresh is kept in localStorage so every tab has it; the access token lives in each
// tab's memory. Refreshes are serialised across tabs with a Web Lock, and a tab that refreshed
// broadcasts the new access token so the others reuse it instead of refreshing again (presenting a
// used refresh token ends the session).

const CSRF_KEY = 'rampart.csrf';
const channel = 'BroadcastChannel' in window ? new BroadcastChannel('rampart-session') : null;

let accessToken = null;
let accessExpires = 0; // ms since the epoch
let accessMargin = 5000; // refresh this long before expiry (less for very short-lived tokens)
export let me = null; // the signed-in user (GET /api/v1/me) or null
let sessionListeners = [];

export function onSessionChange(listener) {
  sessionListeners.push(listener);
}

function notify(reason) {
  for (const l of sessionListeners) l(me, reason);
}

function hasCookieSession() {
  try {
    return Boolean(localStorage.getItem(CSRF_KEY));
  } catch (_) {
    return false;
  }
}

function adopt(token, expiresAt, user) {
  accessToken = token;
  accessExpires = expiresAt;
  accessMargin = Math.min(5000, Math.max(0, (expiresAt - Date.now()) * 0.2));
  const changed = !me || !user || me.id !== user.id;
  if (user) me = user;
  if (changed) notify('signed-in');
}

function post(message) {
  if (channel) channel.postMessage(message);
}

// A sign-in answer (login, second factor, passkey, refresh): keep the access token, share it.
export function startSession(body) {
  if (body.csrf_token) localStorage.setItem(CSRF_KEY, body.csrf_token);
  const expiresAt = Date.now() + (body.expires_in || 60) * 1000;
  adopt(body.access_token, expiresAt, body.user);
  post({ type: 'token', access_token: body.access_token, expires_at: expiresAt, user: body.user });
}

// Ends the session in this tab (and, with `broadcast`, in every tab) and says why.
function endSession(message, broadcast) {
  const was = me;
  accessToken = null;
  accessExpires = 0;
  me = null;
  try {
    localStorage.removeItem(CSRF_KEY);
  } catch (_) {}
  if (broadcast) post({ type: 'signed-out', message });
  if (was) notify('signed-out');
  if (message) sessionEnded(message);
}

// What the app does when the session ends: show the sign-in view and the message (set by app.js).
let sessionEnded = () => {};
export function onSessionEnded(handler) {
  sessionEnded = handler;
}

const ENDED = 'You were signed out: this session ended (signed out elsewhere, revoked, expired, or the account was disabled). Sign in again to continue.';

export function setMe(user) {
  me = user;
  post({ type: 'me', user });
  notify('updated');
}

if (channel) {
  channel.addEventListener('message', (event) => {
    const m = event.data || {};
    if (m.type === 'token' && m.access_token) {
      adopt(m.access_token, m.expires_at, m.user);
    } else if (m.type === 'ask' && accessToken && accessExpires > Date.now() + accessMargin) {
      post({ type: 'token', access_token: accessToken, expires_at: accessExpires, user: me });
    } else if (m.type === 'signed-out') {
      if (me || accessToken) endSession(m.message || 'You were signed out in another tab.', false);
    } else if (m.type === 'me' && m.user && me && m.user.id === me.id) {
      me = m.user;
      notify('updated');
    }
  });
}

let refreshing = null;

// Gets a new access token with the refresh cookie: one refresher at a time over all tabs, and a tab
// that got a fresh token from another tab while it waited uses that one. Resolves true when this
// tab has a usable token afterwards.
export function refresh() {
  if (refreshing) return refreshing;
  const stale = accessToken;
  const run = async () => {
    if (accessToken && accessToken !== stale && accessExpires > Date.now() + accessMargin) return true;
    let csrf = null;
    try {
      csrf = localStorage.getItem(CSRF_KEY);
    } catch (_) {}
    if (!csrf) return false;
    let res;
    try {
      res = await fetch('/api/v1/auth/refresh', { method: 'POST', headers: { 'X-CSRF-Token': csrf } });
    } catch (_) {
      return false; // offline: keep the session, try again later
    }
    if (res.ok) {
      startSession(await res.json());
      return true;
    }
    if (res.status === 401 || res.status === 403) {
      // The cookie's session is gone (revoked, expired, reused, disabled account) or it is not ours.
      endSession(me ? ENDED : null, Boolean(me));
    }
    return false;
  };
  refreshing = (navigator.locks ? navigator.locks.request('rampart-refresh', run) : run())
    .catch(() => false)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

// Asks the other tabs for their access token; resolves true if one answered within `ms`.
function askOtherTabs(ms) {
  if (!channel) return Promise.resolve(false);
  return new Promise((resolve) => {
    const before = accessToken;
    const done = () => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve(Boolean(accessToken && accessToken !== before));
    };
    const poll = setInterval(() => {
      if (accessToken && accessToken !== before) done();
    }, 10);
    const timer = setTimeout(done, ms);
    post({ type: 'ask' });
  });
}

// At start-up: take the session this browser already has (another tab's token, else the cookie).
export async function resumeSession() {
  if (!hasCookieSession()) return false;
  if (!(await askOtherTabs(150)) && !(await refresh())) {
    if (hasCookieSession()) return false; // a passing failure (offline, busy): stay signed out quietly for now
    say('Your session has ended. You are signed out.', 'error');
    return false;
  }
  if (!me || !me.email) return checkSession();
  return true;
}

// GET /api/v1/me: confirms the session still lives (and refreshes `me`). A dead session ends here,
// with a message, in every tab.
export async function checkSession() {
  if (!me && !accessToken) return false;
  let res;
  try {
    res = await api('/api/v1/me');
  } catch (_) {
    return Boolean(me);
  }
  if (res.ok) {
    const user = await res.json();
    const changed = JSON.stringify(user) !== JSON.stringify(me);
    me = user;
    if (changed) notify('updated');
    return true;
  }
  if (res.status === 401 && me) endSession(ENDED, true);
  return false;
}

export function signedIn() {
  return me !== null;
}

function withToken(init) {
  const headers = new Headers((init && init.headers) || {});
  if (accessToken) headers.set('Authorization', 'Bearer ' + accessToken);
  return Object.assign({}, init, { headers });
}

// fetch with the bearer token. An expired access token is refreshed first (or after a 401
// invalid_token) and the request sent once more. A 401 session_ended ends the session at once.
export async function api(path, init) {
  if (accessToken && accessExpires < Date.now() + accessMargin) await refresh();
  if (!accessToken && hasCookieSession()) await refresh();
  const res = await fetch(path, withToken(init));
  if (res.status !== 401) return res;
  const code = await problemCode(res);
  if (code === 'reauthentication_required') return res;
  if (code === 'session_ended') {
    if (me) endSession(ENDED, true);
    return res;
  }
  if (!hasCookieSession() || !(await refresh())) return res;
  return fetch(path, withToken(init));
}

export function jsonInit(method, body) {
  return { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
}

// POST with XMLHttpRequest (for upload progress), with the bearer token and one refresh on 401.
// Resolves to a Response so callers read it like fetch's.
export async function upload(path, body, { headers = {}, onProgress } = {}) {
  if (accessToken && accessExpires < Date.now() + accessMargin) await refresh();
  const send = () =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      if (accessToken) xhr.setRequestHeader('Authorization', 'Bearer ' + accessToken);
      if (onProgress) {
        xhr.upload.addEventListener('progress', (e) => {
          if (e.lengthComputable) onProgress(e.loaded, e.total);
        });
      }
      xhr.addEventListener('load', () => {
        const h = new Headers();
        for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
          const at = line.indexOf(':');
          if (at > 0) h.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
        }
        resolve(new Response(xhr.status === 204 ? null : xhr.responseText, { status: xhr.status, headers: h }));
      });
      xhr.addEventListener('error', () => reject(new TypeError('network error')));
      xhr.addEventListener('abort', () => reject(new TypeError('aborted')));
      xhr.send(body);
    });
  const res = await send();
  if (res.status !== 401) return res;
  const code = await problemCode(res);
  if (code === 'session_ended') {
    if (me) endSession(ENDED, true);
    return res;
  }
  if (code === 'reauthentication_required' || !(await refresh())) return res;
  return send();
}

// Signs out this tab and every other tab of the browser.
export async function signOut() {
  try {
    if (accessToken) await fetch('/api/v1/auth/logout', withToken({ method: 'POST' }));
  } catch (_) {
    // The session ends here either way; the server's ends at its idle timeout.
  }
  endSession(null, false);
  post({ type: 'signed-out', message: 'You were signed out in another tab.' });
}

// After the server ended every session (password reset, account deletion): sign out all tabs.
export function forgetSession(message) {
  endSession(message, true);
}

// ---- Step-up: actions that need a recent sign-in ---------------------------------------------------

function stepUpDialog() {
  return new Promise((resolve) => {
    const password = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', id: 'step-up-password' });
    const code = el('input', { name: 'code', inputMode: 'numeric', autocomplete: 'one-time-code', id: 'step-up-code', maxLength: 64 });
    const error = el('p', { className: 'field-error', role: 'alert' });
    const cancel = el('button', { type: 'button', className: 'secondary' }, 'Cancel');
    const form = el(
      'form',
      { method: 'dialog', id: 'step-up-form', className: 'stack' },
      el('h2', { id: 'step-up-title' }, 'Confirm it is you'),
      el('p', { className: 'muted' }, 'This needs a recent sign-in. Enter your password, or a code from your authenticator app.'),
      el('label', { htmlFor: 'step-up-password' }, 'Password'),
      password,
      el('label', { htmlFor: 'step-up-code' }, 'Or a code'),
      code,
      error,
      el('div', { className: 'actions' }, el('button', { type: 'submit' }, 'Confirm'), cancel)
    );
    const dialog = el('dialog', { className: 'dialog', 'aria-labelledby': 'step-up-title' }, form);
    document.body.append(dialog);
    let result = false;
    const finish = () => {
      dialog.remove();
      resolve(result);
    };
    dialog.addEventListener('close', finish);
    cancel.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const pw = password.value;
      const typed = code.value.trim();
      if (!pw && !typed) {
        error.textContent = 'Enter your password or a code.';
        return;
      }
      const body = pw ? { password: pw } : factorBody(typed);
      const res = await api('/api/v1/auth/reauthenticate', jsonInit('POST', body));
      if (res.status !== 204) {
        error.textContent = await problemText(res);
        return;
      }
      result = true;
      dialog.close();
    });
    dialog.showModal();
    password.focus();
  });
}

// A typed second factor: six digits are an app code, anything else a recovery code.
export function factorBody(typed) {
  const value = typed.trim();
  return /^[0-9]{6}$/.test(value) ? { code: value } : { recovery_code: value };
}

// `api`, asking the user to confirm who they are and retrying once when the server wants a step-up.
export async function sensitive(path, init) {
  const res = await api(path, init);
  if (res.status !== 401 || (await problemCode(res)) !== 'reauthentication_required') return res;
  if (!(await stepUpDialog())) return res;
  return api(path, init);
}

// A modal yes/no question; resolves true for yes.
export function confirmDialog(question, yes, danger) {
  return new Promise((resolve) => {
    const ok = el('button', { type: 'button', className: danger ? 'danger' : '' }, yes);
    const no = el('button', { type: 'button', className: 'secondary' }, 'Cancel');
    const title = el('h2', { id: 'confirm-title' }, question);
    const dialog = el('dialog', { className: 'dialog confirm', 'aria-labelledby': 'confirm-title' }, title, el('div', { className: 'actions' }, ok, no));
    document.body.append(dialog);
    let answer = false;
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    ok.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    no.addEventListener('click', () => dialog.close());
    dialog.showModal();
    no.focus();
  });
}

// ---- Navigation ------------------------------------------------------------------------------------

export let path = location.pathname + location.search;
let router = () => {};

export function setRouter(route) {
  router = route;
}

export function updatePath() {
  path = location.pathname + location.search;
}

// Client-side navigation: pushState and route. `replace` replaces the history entry instead.
export function navigate(url, replace) {
  const target = new URL(url, location.href);
  if (target.origin !== location.origin) {
    location.href = target.href;
    return;
  }
  if (replace) history.replaceState(null, '', target.pathname + target.search + target.hash);
  else history.pushState(null, '', target.pathname + target.search + target.hash);
  updatePath();
  router();
}

// A same-origin, path-only target for "return to" links (never another origin).
export function safeNext(next) {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

// Media may live on another origin (S3, ImageKit), but only as http(s).
export function safeUrl(url) {
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : '';
  } catch (_) {
    return '';
  }
}

// Marks the fields a problem's `errors` names: aria-invalid, and the message under the field, tied
// to it with aria-describedby. Called with no response, it clears the marks.
export async function markFields(form, res) {
  for (const note of form.querySelectorAll('.field-error[data-field]')) {
    const input = form.elements[note.dataset.field];
    if (input) {
      input.removeAttribute('aria-invalid');
      const rest = (input.getAttribute('aria-describedby') || '').split(' ').filter((id) => id && id !== note.id);
      if (rest.length) input.setAttribute('aria-describedby', rest.join(' '));
      else input.removeAttribute('aria-describedby');
    }
    note.remove();
  }
  if (!res) return;
  let body = null;
  try {
    body = await res.clone().json();
  } catch (_) {
    return;
  }
  for (const [name, messages] of Object.entries((body && body.errors) || {})) {
    const input = form.elements[name];
    if (!input || !input.id || !input.closest('.field')) continue;
    const id = input.id + '-error';
    const text = [].concat(messages).map((m) => (/^[A-Z]/.test(m) ? sentence(m) : sentence((FIELD_LABELS[name] || 'This field') + ' ' + m))).join(' ');
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
    input.closest('.field').append(el('p', { className: 'field-error', id, dataset: { field: name } }, text));
  }
}

// A failed form submission: the fields marked, the sentence in the message region.
export async function failed(form, res) {
  await markFields(form, res);
  say(await problemText(res), 'error');
}

// Runs `handler(form)` on submit with the submit button disabled, reporting network failures.
export function onSubmit(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    await markFields(form, null);
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    try {
      await handler(form);
    } catch (e) {
      console.warn(e);
      say(UNREACHABLE, 'error');
    } finally {
      if (button) button.disabled = false;
    }
  });
}

// A labelled field: <div class="field"><label for=id>Label</label><input id=id …><p hint></p></div>
let fieldSerial = 0;
export function field(label, attrs, hint) {
  const id = attrs.id || 'f' + ++fieldSerial;
  const tag = attrs.tag || 'input';
  const a = Object.assign({}, attrs, { id });
  delete a.tag;
  const hintId = hint ? id + '-hint' : null;
  if (hintId) a['aria-describedby'] = hintId;
  const input = el(tag, a);
  return el('div', { className: 'field' }, el('label', { htmlFor: id }, label), input, hint ? el('p', { className: 'hint', id: hintId }, hint) : null);
}

export function timeText(iso) {
  const d = new Date(iso);
  const s = (Date.now() - d.getTime()) / 1000;
  if (s < 60) return 'just now';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  if (s < 7 * 86400) return Math.floor(s / 86400) + ' d ago';
  return d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function timeEl(iso) {
  return el('time', { dateTime: iso, title: new Date(iso).toLocaleString() }, timeText(iso));
}

// Initials avatar: the first letter(s) of the name on a colour picked from the username.
export function avatar(user, size) {
  const name = user.display_name || user.username;
  const letters = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join('');
  let hash = 0;
  for (const c of user.username) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return el('span', { className: 'avatar hue-' + (hash % 8) + (size ? ' ' + size : ''), 'aria-hidden': 'true' }, letters || '?');
}

export function displayName(user) {
  return user.display_name || '@' + user.username;
}
