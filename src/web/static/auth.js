// Signing in (password, second factor, passkey), registration, and the pages the mailed links open:
// email verification, password reset (request and new password) and email-change confirmation.
import * as core from './core.js';
import { el, say, problemText, failed, navigate, onSubmit, field, jsonInit, startSession, factorBody, safeNext, UNREACHABLE } from './core.js';
import { passkeysSupported, ceremony } from './factors.js';

const json = (body) => jsonInit('POST', body);

function page(title, intro, ...content) {
  return el('section', { className: 'auth-page' }, el('div', { className: 'panel auth-panel' }, el('h1', {}, title), intro ? el('p', { className: 'muted intro' }, intro) : null, ...content));
}

function finish(body, next) {
  startSession(body);
  navigate(safeNext(next), true);
}

// The sign-in view. `next` is where to go afterwards (only paths of this site).
export function signIn(main, ctx, nextPath) {
  const next = safeNext(nextPath || ctx.query?.get('next') || '/');
  if (core.me) {
    navigate(next, true);
    return;
  }
  const form = el(
    'form',
    { id: 'sign-in-form', className: 'stack', method: 'post', action: '/sign-in' },
    field('Email or username', { name: 'login', autocomplete: 'username', required: true, id: 'login' }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, id: 'password' }),
    el('div', { className: 'actions' }, el('button', { type: 'submit', className: 'wide' }, 'Sign in')),
    el('p', { className: 'muted small-print' }, el('a', { href: '/forgot-password' }, 'Forgot your password?'))
  );
  const passkey = el('button', { type: 'button', id: 'passkey-sign-in', className: 'secondary wide', hidden: !passkeysSupported }, 'Sign in with a passkey');
  const section = page(
    'Sign in',
    next.startsWith('/admin') ? 'Sign in to open the console.' : 'Welcome back.',
    form,
    el('div', { className: 'or', hidden: !passkeysSupported }, el('span', {}, 'or')),
    passkey,
    el('p', { className: 'switch' }, 'New here? ', el('a', { href: '/register' + (next !== '/' ? '?next=' + encodeURIComponent(next) : '') }, 'Create an account'))
  );
  section.id = 'auth';
  main.append(section);

  onSubmit(form, async () => {
    const body = { login: form.elements.login.value.trim(), password: form.elements.password.value, refresh_cookie: true };
    const res = await fetch('/api/v1/auth/login', json(body));
    if (!res.ok) return say(await problemText(res), 'error');
    if (res.status === 202) {
      secondFactor(main, await res.json(), next);
      return;
    }
    say('');
    finish(await res.json(), next);
  });

  passkey.addEventListener('click', async () => {
    try {
      const res = await fetch('/api/v1/auth/passkey/options', { method: 'POST' });
      if (!res.ok) return say(await problemText(res), 'error');
      const started = await res.json();
      const credential = await ceremony('get', started.options);
      if (!credential) return;
      const done = await fetch('/api/v1/auth/passkey', json({ ceremony: started.ceremony, credential, refresh_cookie: true }));
      if (!done.ok) return say(await problemText(done), 'error');
      say('');
      finish(await done.json(), next);
    } catch (_) {
      say(UNREACHABLE, 'error');
    }
  });
}

// The password passed; the account also asks for its second factor.
function secondFactor(main, asked, next) {
  const challenge = asked.challenge;
  const form = el(
    'form',
    { id: 'second-factor-form', className: 'stack', method: 'post', action: '/sign-in' },
    field('Code from your authenticator app', { name: 'code', inputMode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxLength: 6, id: 'mfa-code' }),
    field('Or a recovery code', { name: 'recovery_code', autocomplete: 'off', maxLength: 64, id: 'mfa-recovery' }),
    el('div', { className: 'actions' }, el('button', { type: 'submit' }, 'Continue'), el('button', { type: 'button', id: 'second-factor-cancel', className: 'secondary', onclick: () => navigate('/sign-in' + (next !== '/' ? '?next=' + encodeURIComponent(next) : ''), true) }, 'Cancel'))
  );
  const usePasskey = el('button', { type: 'button', id: 'second-factor-passkey', className: 'secondary wide', hidden: !passkeysSupported || !asked.methods.includes('passkey') }, 'Use a passkey');
  const section = page('Two-step sign-in', asked.methods.includes('totp') ? 'Enter the six-digit code from your authenticator app, or one of your recovery codes.' : 'Use your passkey to finish signing in.', form, usePasskey);
  section.id = 'second-factor';
  main.replaceChildren(section);
  section.querySelector('h1').tabIndex = -1;
  form.elements.code.focus();

  onSubmit(form, async () => {
    const typed = form.elements.code.value || form.elements.recovery_code.value;
    if (!typed.trim()) return say('Enter a code from your app or a recovery code.', 'error');
    const res = await fetch('/api/v1/auth/mfa/verify', json(Object.assign({ challenge, refresh_cookie: true }, factorBody(typed))));
    if (!res.ok) {
      const text = await problemText(res);
      if ((await res.clone().json().catch(() => ({}))).code === 'invalid_mfa_challenge') navigate('/sign-in', true);
      return say(text, 'error');
    }
    say('');
    finish(await res.json(), next);
  });

  usePasskey.addEventListener('click', async () => {
    try {
      const res = await fetch('/api/v1/auth/mfa/passkey/options', json({ challenge }));
      if (!res.ok) return say(await problemText(res), 'error');
      const started = await res.json();
      const credential = await ceremony('get', started.options);
      if (!credential) return;
      const done = await fetch('/api/v1/auth/mfa/verify', json({ challenge, passkey: { ceremony: started.ceremony, credential }, refresh_cookie: true }));
      if (!done.ok) return say(await problemText(done), 'error');
      say('');
      finish(await done.json(), next);
    } catch (_) {
      say(UNREACHABLE, 'error');
    }
  });
}

export function register(main, ctx) {
  const next = safeNext(ctx.query.get('next') || '/');
  if (core.me) {
    navigate(next, true);
    return;
  }
  const form = el(
    'form',
    { id: 'register-form', className: 'stack', method: 'post', action: '/register' },
    field('Username', { name: 'username', autocomplete: 'username', required: true, minLength: 3, maxLength: 32, pattern: '[A-Za-z0-9_]{3,32}', id: 'reg-username' }, '3 to 32 letters, digits or underscores.'),
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true, id: 'reg-email' }, 'We send a link to confirm it.'),
    field('Password', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minLength: 8, maxLength: 128, id: 'reg-password' }, 'At least 8 characters. A few unusual words make a strong password.'),
    field('Display name (optional)', { name: 'display_name', maxLength: 64, autocomplete: 'name', id: 'reg-display' }),
    el('div', { className: 'actions' }, el('button', { type: 'submit', className: 'wide' }, 'Create account'))
  );
  main.append(page('Create an account', 'Share your pictures on Rampart.', form, el('p', { className: 'switch' }, 'Already have an account? ', el('a', { href: '/sign-in' }, 'Sign in'))));

  onSubmit(form, async () => {
    const f = form.elements;
    // Cookie mode from the start, so every tab shares the new session.
    const body = { username: f.username.value.trim(), email: f.email.value.trim(), password: f.password.value, refresh_cookie: true };
    if (f.display_name.value.trim()) body.display_name = f.display_name.value.trim();
    const res = await fetch('/api/v1/auth/register', json(body));
    if (!res.ok) return failed(form, res);
    const answer = await res.json();
    startSession(answer);
    navigate(next === '/' ? '/' : next, true);
    say('Welcome to Rampart! We sent you a mail: follow its link to verify your address before posting.', 'ok');
  });
}

export function forgot(main) {
  const form = el(
    'form',
    { id: 'forgot-form', className: 'stack', method: 'post', action: '/forgot-password' },
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true, id: 'forgot-email' }),
    el('div', { className: 'actions' }, el('button', { type: 'submit', className: 'wide' }, 'Send a reset link'))
  );
  main.append(page('Reset your password', 'Enter the address of your account. We mail you a link to choose a new password.', form, el('p', { className: 'switch' }, el('a', { href: '/sign-in' }, 'Back to sign in'))));
  onSubmit(form, async () => {
    const res = await fetch('/api/v1/auth/password/forgot', json({ email: form.elements.email.value.trim() }));
    if (!res.ok) return say(await problemText(res), 'error');
    form.reset();
    say('If an account has this address, a reset link is on its way. It works for one hour.', 'ok');
  });
}

// Reads the token and removes it from the address bar, so it stays out of history and bookmarks.
function takeToken() {
  const token = new URLSearchParams(location.search).get('token');
  history.replaceState(null, '', location.pathname);
  core.updatePath();
  return token;
}

function status(text) {
  return el('p', { className: 'status-line', id: 'link-status' }, text);
}

function noToken(main, title) {
  main.append(page(title, null, status('This link has no token. Open the link from the mail again.'), el('a', { href: '/', className: 'button' }, 'Go to the feed')));
}

// Posts a mailed link's token. Says on `line` why it failed; answers the response, or null when
// Rampart could not be reached.
async function spendToken(path, token, line) {
  let res;
  try {
    res = await fetch(path, json({ token }));
  } catch (_) {
    line.textContent = UNREACHABLE;
    return null;
  }
  if (!res.ok) {
    line.textContent = await problemText(res);
    say(line.textContent, 'error');
  }
  return res;
}

export function verify(main) {
  const token = takeToken();
  if (!token) return noToken(main, 'Verify your email');
  const line = status('Checking the link…');
  const actions = el('div', { className: 'actions', hidden: true });
  main.append(page('Verify your email', null, line, actions));
  (async () => {
    const res = await spendToken('/api/v1/auth/verify-email', token, line);
    if (!res) return;
    if (!res.ok) {
      actions.replaceChildren(el('a', { href: core.me ? '/upload' : '/sign-in', className: 'button secondary' }, core.me ? 'Send a new link from the upload page' : 'Sign in'));
      actions.hidden = false;
      return;
    }
    if (core.me) await core.checkSession();
    if (core.me) core.setMe(core.me); // tells the other tabs
    line.textContent = 'Your email address is verified. You can post now.';
    say(line.textContent, 'ok');
    actions.replaceChildren(
      el('a', { href: core.me ? '/upload' : '/sign-in?next=%2Fupload', className: 'button' }, core.me ? 'New post' : 'Sign in'),
      el('a', { href: '/', className: 'button secondary' }, 'Go to the feed')
    );
    actions.hidden = false;
  })();
}

export function reset(main) {
  const token = takeToken();
  if (!token) return noToken(main, 'Choose a new password');
  const form = el(
    'form',
    { id: 'reset-form', className: 'stack', method: 'post', action: '/reset-password' },
    field('New password', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, minLength: 8, maxLength: 128, id: 'reset-password' }, 'At least 8 characters.'),
    field('New password again', { name: 'repeat', type: 'password', autocomplete: 'new-password', required: true, id: 'reset-repeat' }),
    el('div', { className: 'actions' }, el('button', { type: 'submit', className: 'wide' }, 'Set the new password'))
  );
  main.append(page('Choose a new password', 'Every session of your account is signed out when the password changes.', form));
  onSubmit(form, async () => {
    const password = form.elements.new_password.value;
    if (password !== form.elements.repeat.value) return say('The two passwords are not the same.', 'error');
    const res = await fetch('/api/v1/auth/password/reset', json({ token, new_password: password }));
    if (!res.ok) return failed(form, res);
    // Every session of the account has ended, this browser's included.
    if (core.me) core.forgetSession(null);
    navigate('/sign-in', true);
    say('Your password is changed and every session was signed out. Sign in with the new password.', 'ok');
  });
}

export function confirm(main) {
  const token = takeToken();
  if (!token) return noToken(main, 'Confirm your new address');
  const line = status('Checking the link…');
  main.append(page('Confirm your new address', null, line, el('a', { href: '/', className: 'button secondary' }, 'Go to the feed')));
  (async () => {
    const res = await spendToken('/api/v1/auth/email/confirm', token, line);
    if (!res || !res.ok) return;
    const user = await res.json();
    if (core.me && core.me.id === user.id) core.setMe(user);
    line.textContent = 'Your account’s address is now ' + user.email + '.';
    say(line.textContent, 'ok');
  })();
}
