// The settings: profile, password and email, second factors, sessions (devices), export and deletion.
import * as core from './core.js';
import { el, panel, api, sensitive, say, problemText, failed, onSubmit, field, jsonInit, confirmDialog, timeText, UNREACHABLE } from './core.js';

const SECTIONS = [
  ['profile', 'Profile'],
  ['account', 'Password and email'],
  ['security', 'Security'],
  ['sessions', 'Sessions'],
  ['data', 'Your data'],
];

export function settings(main, ctx) {
  const section = ctx.params.section || 'profile';
  if (!core.me) {
    core.navigate('/sign-in?next=' + encodeURIComponent(ctx.path), true);
    return;
  }
  const known = SECTIONS.find(([id]) => id === section);
  const body = el('div', { className: 'settings-body' });
  main.append(
    el(
      'div',
      { className: 'settings' },
      el('h1', { className: 'settings-title' }, 'Settings', el('span', { className: 'visually-hidden' }, ': ' + (known ? known[1] : 'not found'))),
      el(
        'nav',
        { className: 'settings-nav', 'aria-label': 'Settings sections' },
        el('ul', {}, SECTIONS.map(([id, label]) => el('li', {}, el('a', { href: '/settings/' + id, 'aria-current': id === section ? 'page' : null }, label))))
      ),
      body
    )
  );
  if (!known) {
    body.append(el('div', { className: 'panel' }, el('p', {}, 'There is no such settings page.')));
    return;
  }
  const render = { profile: profileSection, account: accountSection, security: securitySection, sessions: sessionsSection, data: dataSection }[section];
  render(body);
}

function profileSection(body) {
  const me = core.me;
  const form = el(
    'form',
    { id: 'profile-form', className: 'stack', method: 'post', action: '/settings/profile' },
    field('Display name', { name: 'display_name', maxLength: 64, value: me.display_name || '', autocomplete: 'name', id: 'profile-display-name' }, 'Shown instead of your username. Leave it empty to show @' + me.username + '.'),
    field('Bio', { tag: 'textarea', name: 'bio', maxLength: 500, rows: 4, value: me.bio || '', id: 'profile-bio' }, 'Up to 500 characters.'),
    el('div', { className: 'actions' }, el('button', { type: 'submit' }, 'Save profile'), el('a', { href: '/u/' + encodeURIComponent(me.username), className: 'button secondary' }, 'View your profile'))
  );
  body.append(panel('profile', 'Profile', null, form));
  onSubmit(form, async () => {
    const name = form.elements.display_name.value.trim();
    const res = await api('/api/v1/me', jsonInit('PATCH', { display_name: name || null, bio: form.elements.bio.value }));
    if (!res.ok) return failed(form, res);
    core.setMe(await res.json());
    say('Your profile is saved.', 'ok');
  });
}

function accountSection(body) {
  const me = core.me;
  const password = el(
    'form',
    { id: 'password-form', className: 'stack', method: 'post', action: '/settings/account' },
    el('input', { type: 'text', name: 'username', autocomplete: 'username', value: me.username, hidden: true, readOnly: true, tabIndex: -1, 'aria-hidden': 'true' }),
    field('Current password', { name: 'current_password', type: 'password', autocomplete: 'current-password', required: true, id: 'pw-current' }),
    field('New password', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, minLength: 8, maxLength: 128, id: 'pw-new' }, 'At least 8 characters. Your other sessions are signed out.'),
    el('div', { className: 'actions' }, el('button', { type: 'submit' }, 'Change password'))
  );
  const email = el(
    'form',
    { id: 'email-form', className: 'stack', method: 'post', action: '/settings/account' },
    el('p', {}, 'Your address is ', el('strong', { id: 'current-email' }, me.email), me.email_verified ? ' (verified).' : ' (not verified yet).'),
    field('New email address', { name: 'new_email', type: 'email', autocomplete: 'email', required: true, id: 'email-new' }),
    field('Current password', { name: 'current_password', type: 'password', autocomplete: 'current-password', required: true, id: 'email-password' }),
    el('div', { className: 'actions' }, el('button', { type: 'submit' }, 'Change email'))
  );
  body.append(
    panel('password', 'Password', null, password),
    panel('email', 'Email address', null, email)
  );
  onSubmit(password, async (form) => {
    const res = await api('/api/v1/me/password', jsonInit('POST', { current_password: form.elements.current_password.value, new_password: form.elements.new_password.value }));
    if (res.status !== 204) return failed(form, res);
    form.reset();
    say('Your password is changed. Your other sessions were signed out.', 'ok');
  });
  onSubmit(email, async (form) => {
    const res = await api('/api/v1/me/email', jsonInit('POST', { new_email: form.elements.new_email.value.trim(), current_password: form.elements.current_password.value }));
    if (!res.ok) return failed(form, res);
    const to = form.elements.new_email.value.trim();
    form.reset();
    say('We sent a confirmation link to ' + to + '. Your address changes when you follow it.', 'ok');
  });
}

function securitySection(body) {
  import('./factors.js').then((m) => m.security(body)).catch(() => say(UNREACHABLE, 'error'));
}

// "Chrome on Linux" from a user agent, roughly.
function deviceName(ua) {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : /curl|python|node|Go-http|reqwest/i.test(ua) ? 'A program' : 'A browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? browser + ' on ' + os : browser;
}

function sessionsSection(body) {
  const list = el('ul', { id: 'session-list', className: 'rows', 'aria-busy': 'true' }, el('li', { className: 'muted' }, 'Loading…'));
  const all = el('button', { type: 'button', className: 'danger', id: 'sign-out-everywhere' }, 'Sign out everywhere');
  body.append(
    panel(
      'sessions',
      'Sessions',
      null,
      el('p', { className: 'muted' }, 'The devices signed in to your account. Sign out any you do not recognise.'),
      list,
      el('div', { className: 'actions' }, all)
    )
  );

  async function load() {
    const res = await api('/api/v1/auth/sessions');
    list.removeAttribute('aria-busy');
    if (!res.ok) {
      list.replaceChildren(el('li', {}, await problemText(res)));
      return;
    }
    const { items } = await res.json();
    list.replaceChildren(
      ...items.map((s) => {
        const revoke = el('button', { type: 'button', className: s.current ? 'secondary' : 'link danger', 'aria-label': s.current ? 'Sign out this device' : 'Revoke the session of ' + deviceName(s.user_agent) + ', last active ' + timeText(s.last_used_at) }, s.current ? 'Sign out' : 'Revoke');
        revoke.addEventListener('click', async () => {
          if (s.current) {
            await core.signOut();
            core.navigate('/');
            say('You are signed out.', 'ok');
            return;
          }
          const r = await api('/api/v1/auth/sessions/' + encodeURIComponent(s.id), { method: 'DELETE' });
          if (r.status !== 204) return say(await problemText(r), 'error');
          say('That session is signed out.', 'ok');
          load();
        });
        return el(
          'li',
          { className: 'row session' + (s.current ? ' current' : '') },
          el(
            'div',
            {},
            el('div', { className: 'row-title' }, el('strong', {}, deviceName(s.user_agent)), s.current ? el('span', { className: 'badge' }, 'This device') : null),
            el('p', { className: 'muted small' }, (s.ip ? s.ip + ' · ' : '') + 'signed in ' + timeText(s.created_at) + ' · last active ' + timeText(s.last_used_at))
          ),
          el('div', { className: 'row-actions' }, revoke)
        );
      })
    );
  }

  all.addEventListener('click', async () => {
    if (!(await confirmDialog('Sign out on every device, this one included?', 'Sign out everywhere', true))) return;
    const res = await api('/api/v1/auth/logout-all', { method: 'POST' });
    if (res.status !== 204) return say(await problemText(res), 'error');
    core.forgetSession(null);
    core.navigate('/sign-in');
    say('You are signed out on every device.', 'ok');
  });

  load().catch(() => say(UNREACHABLE, 'error'));
}

function dataSection(body) {
  const exportButton = el('button', { type: 'button', id: 'export' }, 'Download your data');
  const del = el(
    'form',
    { id: 'delete-form', className: 'stack', method: 'post', action: '/settings/data' },
    el('input', { type: 'text', name: 'username', autocomplete: 'username', value: core.me.username, hidden: true, readOnly: true, tabIndex: -1, 'aria-hidden': 'true' }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, id: 'delete-password' }),
    el('div', { className: 'actions' }, el('button', { type: 'submit', className: 'danger' }, 'Delete my account'))
  );
  body.append(
    panel(
      'export',
      'Export',
      null,
      el('p', { className: 'muted' }, 'A JSON file with your account, sessions, posts (with links to the images), security events and second factors.'),
      el('div', { className: 'actions' }, exportButton)
    ),
    panel('delete', 'Delete your account', 'danger-zone', el('p', {}, 'Your account, posts and images are deleted for good. This cannot be undone.'), del)
  );

  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    try {
      const res = await api('/api/v1/me/export');
      if (!res.ok) return say(await problemText(res), 'error');
      const blob = new Blob([await res.text()], { type: 'application/json' });
      const link = el('a', { href: URL.createObjectURL(blob), download: 'rampart-' + core.me.username + '-export.json', hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      say('Your data is downloaded.', 'ok');
    } catch (_) {
      say(UNREACHABLE, 'error');
    } finally {
      exportButton.disabled = false;
    }
  });

  onSubmit(del, async (form) => {
    if (!(await confirmDialog('Delete your account and all your posts for good?', 'Delete my account', true))) return;
    const res = await sensitive('/api/v1/me', jsonInit('DELETE', { password: form.elements.password.value }));
    if (res.status !== 204) return say(await problemText(res), 'error');
    core.forgetSession(null);
    core.navigate('/');
    say('Your account is deleted. Goodbye.', 'ok');
  });
}
