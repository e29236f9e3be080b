// Rampart's admin console, mounted by the app's router at /admin and /admin/*:
//   mount(main, ctx)  with ctx = { api, sensitive, say, problemText, me, navigate, path, el }
// Views: /admin/users?q=&role=&status=, /admin/posts?q=&author=&tag=, /admin/audit?kind=&user_id=,
// /admin/health. The URL holds every filter, so a view can be shared and the back button works; a
// filter or a tab is a client-side navigation, and the router mounts the console again.
//
// The API decides who sees what (users, audit and health are admin-only, removing posts is for
// moderators and admins): the console only hides tabs a role cannot use, and any 403 shows "You do not
// have access to this." and no data. No inline style, no innerHTML: everything is built with DOM calls,
// so it runs under the app's strict Content-Security-Policy.

const ROLES = ['user', 'moderator', 'admin'];

// The audit kinds the server writes (src/audit.rs). A kind in the URL that is not listed is still offered.
const KINDS = [
  'register', 'login', 'login_failed', 'logout', 'logout_all', 'session_revoked', 'refresh_token_reuse',
  'email_verified', 'email_change_requested', 'email_changed', 'password_changed',
  'password_reset_requested', 'password_reset', 'role_changed', 'user_disabled', 'user_enabled',
  'factors_reset', 'post_removed_by_moderator', 'totp_enabled', 'totp_disabled',
  'recovery_codes_regenerated', 'recovery_code_used', 'second_factor_failed', 'reauthenticated',
  'passkey_added', 'passkey_removed', 'passkey_rejected', 'sessions_revoked_by_admin',
];

const TABS = [
  { id: 'users', label: 'Users', staff: 'admin' },
  { id: 'posts', label: 'Posts', staff: 'moderator' },
  { id: 'audit', label: 'Audit log', staff: 'admin' },
  { id: 'health', label: 'Health', staff: 'admin' },
];

const NO_ACCESS = 'You do not have access to this.';
const PAGE_SIZE = 25;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Usernames by user id, learned from every list the console loads, so the audit log can name people.
const names = new Map();
// Which control to focus after the next mount (set when the console itself navigates).
let focusAfterMount = null;
// Each mount gets a number; work started by an older mount does not touch the page any more.
let generation = 0;

/** Mounts the console into `main` for `ctx.path`. */
export async function mount(main, ctx) {
  const mine = ++generation;
  await addStylesheet();
  const current = () => mine === generation;
  if (!current()) return undefined;
  const url = new URL(ctx.path || location.pathname + location.search, location.origin);
  const me = ctx.me;
  const role = me && me.role;
  const staff = role === 'admin' || role === 'moderator';

  let tab = url.pathname.replace(/\/+$/, '').split('/')[2] || '';
  if (!tab && staff) {
    // /admin opens the first tab this role can use; replaceState keeps the back button honest.
    tab = role === 'admin' ? 'users' : 'posts';
    history.replaceState(history.state, '', `/admin/${tab}`);
  }

  const root = h('div', { class: 'adm' });
  main.replaceChildren(root);
  const known = TABS.find((t) => t.id === tab);
  const title = h('h1', { id: 'adm-title', tabindex: '-1' }, known ? known.label : 'Admin console');
  root.append(h('p', { class: 'adm-eyebrow' }, 'Admin console'), title);

  const env = { ctx, me, root, current, ask: dialog(root) };
  const stop = () => {
    if (current()) generation += 1;
    env.ask.close();
  };
  if (!me) {
    root.append(h('p', { class: 'adm-empty' }, 'Sign in to use the admin console.'));
    return stop;
  }
  if (!staff) {
    root.append(h('p', { class: 'adm-denied', role: 'alert' }, NO_ACCESS));
    return stop;
  }

  root.append(nav(ctx, role, tab));
  if (role !== 'admin') {
    root.append(h('p', { class: 'adm-note' },
      'As a moderator you can review and remove posts. Users, the audit log and instance health are for administrators.'));
  }

  const view = h('section', { class: 'adm-view', 'aria-labelledby': 'adm-title' });
  root.append(view);
  env.view = view;
  const params = url.searchParams;

  try {
    if (tab === 'users') await usersView(env, params);
    else if (tab === 'posts') await postsView(env, params);
    else if (tab === 'audit') await auditView(env, params);
    else if (tab === 'health') await healthView(env);
    else view.append(h('p', { class: 'adm-empty' }, 'There is no such page in the console.'));
  } catch (err) {
    if (current()) {
      view.append(h('p', { class: 'adm-error', role: 'alert' }, 'Something went wrong: the server did not answer.'));
    }
    console.warn('admin console:', err);
  }
  if (current()) restoreFocus(root);
  return stop;
}

// ---------------------------------------------------------------------------------------------------
// Building blocks

/** A DOM element: `props` are attributes (`on…` are listeners, true is a bare attribute), children
 *  are nodes or strings (text, never markup). */
function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Adds the console's stylesheet once, next to this module (so it carries the same version), and
 *  resolves when it has loaded, or after a second at most, so the console does not flash unstyled. */
let stylesheet = null;
function addStylesheet() {
  if (!stylesheet) {
    const href = new URL('./admin.css', import.meta.url).href;
    const present = [...document.querySelectorAll('link[rel="stylesheet"]')].find((l) => l.href === href);
    stylesheet = present ? Promise.resolve() : new Promise((resolve) => {
      const link = h('link', { rel: 'stylesheet', href, onload: resolve, onerror: resolve });
      document.head.append(link);
      setTimeout(resolve, 1000);
    });
  }
  return stylesheet;
}

function nav(ctx, role, tab) {
  const items = TABS.filter((t) => role === 'admin' || t.staff === 'moderator').map((t) =>
    h('li', null, h('a', {
      href: `/admin/${t.id}`,
      'aria-current': t.id === tab ? 'page' : null,
      onclick: (e) => follow(e, ctx, `/admin/${t.id}`, 'title'),
    }, t.label)));
  return h('nav', { class: 'adm-tabs', 'aria-label': 'Admin console' }, h('ul', null, items));
}

/** A same-tab click on a console link becomes a client-side navigation. */
function follow(event, ctx, href, focus) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  focusAfterMount = focus || 'title';
  ctx.navigate(href);
}

function link(ctx, href, ...children) {
  return h('a', { href, onclick: (e) => follow(e, ctx, href, 'title') }, ...children);
}

/** After a filter, focus goes back to the filter button (after the router has focused the heading,
 *  which it does for every other navigation). */
function restoreFocus(root) {
  const key = focusAfterMount;
  focusAfterMount = null;
  if (!key || key === 'title') return;
  setTimeout(() => root.querySelector(`[data-focus="${key}"]`)?.focus(), 0);
}

/** A filter form whose submission navigates to `base` with the non-empty fields as the query. */
function filterForm(env, base, label, fields) {
  const { ctx } = env;
  const active = fields.some((f) => f.value);
  const submit = h('button', { type: 'submit', 'data-focus': 'filter' }, 'Filter');
  const form = h('form', { class: 'adm-filters', role: 'search', 'aria-label': label, method: 'get', action: base },
    fields.map((f) => f.node),
    h('div', { class: 'adm-filter-actions' }, submit,
      active ? link(ctx, base, 'Clear filters') : null));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const f of fields) {
      const value = await (f.read ? f.read() : f.input.value.trim());
      if (value === undefined) return; // the field reported its own problem
      if (value) query.set(f.name, value);
    }
    focusAfterMount = 'filter';
    const qs = query.toString();
    ctx.navigate(qs ? `${base}?${qs}` : base);
  });
  return form;
}

function textField(name, label, value, extra) {
  const id = `adm-f-${name}`;
  const input = h('input', { id, name, value: value || '', autocomplete: 'off', ...extra });
  return { name, value, input, node: h('div', { class: 'adm-field' }, h('label', { for: id }, label), input) };
}

function selectField(name, label, value, options) {
  const id = `adm-f-${name}`;
  const list = options.slice();
  if (value && !list.some(([v]) => v === value)) list.push([value, value]);
  const input = h('select', { id, name },
    list.map(([v, text]) => h('option', { value: v, selected: v === (value || '') }, text)));
  return { name, value, input, node: h('div', { class: 'adm-field' }, h('label', { for: id }, label), input) };
}

/** A table with a caption and column headers; on narrow screens CSS turns rows into cards, with
 *  each cell's `data-label` as its heading. */
function table(caption, columns, kind) {
  const tbody = h('tbody');
  const node = h('div', { class: 'adm-table-wrap' },
    h('table', { class: `adm-table adm-table-${kind}` },
      h('caption', { tabindex: '-1' }, caption),
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
      tbody));
  return { node, tbody, caption: node.querySelector('caption') };
}

function cell(label, cls, ...children) {
  return h('td', { 'data-label': label, class: cls }, h('div', { class: 'adm-cell' }, ...children));
}

function time(iso, dateOnly) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', null, iso || '');
  const text = dateOnly
    ? date.toLocaleDateString(undefined, { dateStyle: 'medium' })
    : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return h('time', { datetime: iso, title: date.toISOString() }, text);
}

function badge(text, kind) {
  return h('span', { class: `adm-badge adm-badge-${kind}` }, text);
}

function humanize(key) {
  const words = String(key).replace(/_(ms|secs?|seconds|bytes)$/, '').replace(/[_-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function sr(text) {
  return h('span', { class: 'adm-sr' }, text);
}

/** GET `path` as JSON. Returns { data } or { denied } (403) or { error: sentence }. */
async function load(env, path, report) {
  let res;
  try {
    res = await env.ctx.api(path);
  } catch (_) {
    return { error: 'The server did not answer. Try again.' };
  }
  if (!res) return { error: 'The request was not sent.' };
  if (res.status === 403) {
    let detail = null;
    try {
      const body = await res.json();
      if (body && body.code && body.code !== 'forbidden' && body.detail) detail = body.detail;
    } catch (_) { /* not JSON */ }
    return { denied: true, detail };
  }
  if (!res.ok && report) {
    // A health report that finds a problem may come with an error status; it is still the report.
    try {
      const body = await res.clone().json();
      if (body && typeof body.checks === 'object') return { data: body };
    } catch (_) { /* not a report */ }
  }
  if (!res.ok) return { error: await sentence(env, res) };
  try {
    return { data: await res.json() };
  } catch (_) {
    return { error: 'The server sent an answer the console cannot read.' };
  }
}

async function sentence(env, res) {
  try {
    const text = await env.ctx.problemText(res);
    if (text) return text;
  } catch (_) { /* fall through */ }
  return `The server answered ${res.status}.`;
}

/** Shows the outcome of a failed load in the view; true if it failed. */
function failed(env, result, status) {
  if (result.denied) {
    status.remove();
    env.view.replaceChildren(h('p', { class: 'adm-denied', role: 'alert' }, NO_ACCESS),
      result.detail ? h('p', { class: 'adm-muted' }, result.detail) : null);
    return true;
  }
  if (result.error) {
    status.className = 'adm-error';
    status.textContent = result.error;
    return true;
  }
  return false;
}

/** Sends a change; reports failures through `say` and returns the Response when it succeeded. */
async function act(env, path, init, sensitive) {
  const { ctx } = env;
  let res;
  try {
    res = await (sensitive ? ctx.sensitive : ctx.api)(path, init);
  } catch (_) {
    ctx.say('The server did not answer; nothing was changed.', 'error');
    return null;
  }
  if (!res || (res.status === 401 && (await problemCode(res)) === 'reauthentication_required')) {
    // The step-up was cancelled.
    ctx.say('Cancelled: nothing was changed.');
    return null;
  }
  if (res.status === 403) {
    ctx.say(NO_ACCESS, 'error');
    return null;
  }
  if (!res.ok) {
    ctx.say(await sentence(env, res), 'error');
    return null;
  }
  return res;
}

async function problemCode(res) {
  try {
    return (await res.clone().json()).code || null;
  } catch (_) {
    return null;
  }
}

function json(method, body) {
  return { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
}

/** The console's one modal <dialog>. `ask({title, text, confirm, danger, extra})` resolves to true
 *  when confirmed. Focus goes to the extra control or to Cancel (the safe choice), Escape cancels,
 *  and focus returns to the control that opened it (or to `fallback()` when that is gone). */
function dialog(root) {
  const node = h('dialog', { class: 'adm-dialog', 'aria-labelledby': 'adm-dialog-title', 'aria-describedby': 'adm-dialog-text' });
  root.append(node);
  const ask = ({ title, text, confirm, danger, extra, fallback }) => new Promise((resolve) => {
    const opener = document.activeElement;
    const cancel = h('button', { type: 'button', class: 'secondary adm-secondary', onclick: () => node.close('cancel') }, 'Cancel');
    const ok = h('button', { type: 'button', class: danger ? 'danger adm-danger' : 'adm-primary', onclick: () => node.close('confirm') }, confirm);
    node.replaceChildren(
      h('h2', { id: 'adm-dialog-title' }, title),
      h('p', { id: 'adm-dialog-text' }, text),
      extra || null,
      h('div', { class: 'adm-dialog-actions' }, cancel, ok));
    node.returnValue = '';
    node.addEventListener('close', () => {
      const yes = node.returnValue === 'confirm';
      // The action may replace the opener; the caller focuses the new control then.
      queueMicrotask(() => {
        if (opener && opener.isConnected) opener.focus();
        else if (fallback) fallback()?.focus();
      });
      resolve(yes);
    }, { once: true });
    node.showModal();
    (extra && extra.querySelector('select, input') || cancel).focus();
  });
  ask.close = () => {
    if (node.open) node.close('cancel');
  };
  return ask;
}

/** "Load more" for a cursor-paged list: fetches `pathFor(cursor)` and hands the items to `add`. */
function pager(env, noun, pathFor, add, after) {
  let cursor = null;
  const button = h('button', { type: 'button', class: 'adm-more', hidden: true }, `Load more ${noun}`);
  let busy = false;
  button.addEventListener('click', async () => {
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
    if (busy) return;
    busy = true;
    button.setAttribute('aria-disabled', 'true');
    button.textContent = `Loading more ${noun}…`;
    const result = await load(env, pathFor(cursor));
    busy = false;
    button.removeAttribute('aria-disabled');
    button.textContent = `Load more ${noun}`;
    if (result.data) {
      const first = add(result.data.items || []);
      set(result.data.next_cursor);
      if (button.hidden && first) first.focus();
      after?.();
    } else {
      env.ctx.say(result.denied ? NO_ACCESS : result.error, 'error');
    }
  });
  function set(next) {
    cursor = next || null;
    button.hidden = !cursor;
  }
  return { button, set };
}

function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) query.set(k, v);
  const qs = query.toString();
  return qs ? `${path}?${qs}` : path;
}

// ---------------------------------------------------------------------------------------------------
// Users

async function usersView(env, params) {
  const { ctx, view } = env;
  const filters = { q: params.get('q') || '', role: params.get('role') || '', status: params.get('status') || '' };
  view.append(filterForm(env, '/admin/users', 'Filter users', [
    textField('q', 'Search', filters.q, { type: 'search', placeholder: 'Username, email or name' }),
    selectField('role', 'Role', filters.role, [['', 'Any role'], ...ROLES.map((r) => [r, humanize(r)])]),
    selectField('status', 'Status', filters.status, [['', 'Any status'], ['active', 'Active'], ['disabled', 'Disabled']]),
  ]));
  const status = h('p', { class: 'adm-status', role: 'status' }, 'Loading users…');
  view.append(status);

  const path = (cursor) => withQuery('/api/v1/admin/users', { ...filters, cursor, limit: PAGE_SIZE });
  const result = await load(env, path(null));
  if (!env.current() || failed(env, result, status)) return;

  const grid = table('Users, oldest first', [
    { label: 'User' }, { label: 'Role' }, { label: 'Status' }, { label: 'Joined' }, { label: 'Actions', class: 'adm-actions-col' },
  ], 'users');
  let count = 0;
  const add = (items) => {
    let first = null;
    for (const user of items) {
      const row = userRow(env, user);
      grid.tbody.append(row);
      first ||= row.querySelector('a, button');
      count += 1;
    }
    status.textContent = count === 1 ? '1 user shown.' : `${count} users shown.`;
    return first;
  };
  const more = pager(env, 'users', path, add);
  const items = result.data.items || [];
  if (!items.length) {
    status.textContent = '';
    view.append(empty(ctx, filters, '/admin/users', 'No users match these filters.', 'There are no users yet.'));
    return;
  }
  add(items);
  more.set(result.data.next_cursor);
  view.append(grid.node, more.button);
  env.caption = grid.caption;
}

function empty(ctx, filters, base, filtered, none) {
  const any = Object.values(filters).some(Boolean);
  return h('div', { class: 'adm-empty' }, h('p', null, any ? filtered : none), any ? link(ctx, base, 'Clear the filters') : null);
}

function userRow(env, user) {
  const { ctx, me } = env;
  names.set(user.id, user.username);
  const self = me && user.id === me.id;
  const who = `@${user.username}`;
  const row = h('tr', { 'data-user': user.username },
    cell('User', 'adm-user',
      h('span', { class: 'adm-strong' }, who), self ? h('span', { class: 'adm-muted' }, ' (you)') : null,
      user.display_name ? h('span', { class: 'adm-sub' }, user.display_name) : null,
      h('span', { class: 'adm-sub' }, user.email || '', ' ',
        user.email_verified ? badge('verified', 'ok') : badge('unverified', 'warn')),
      h('span', { class: 'adm-sub adm-links' },
        link(ctx, withQuery('/admin/posts', { author: user.username }), 'Posts', sr(` by ${who}`)),
        link(ctx, withQuery('/admin/audit', { user_id: user.id }), 'Audit events', sr(` of ${who}`)))),
    cell('Role', null, badge(humanize(user.role), user.role === 'user' ? 'plain' : 'role')),
    cell('Status', null, user.disabled ? badge('Disabled', 'down') : badge('Active', 'ok')),
    cell('Joined', 'adm-nowrap', time(user.created_at, true)),
    cell('Actions', 'adm-actions',
      h('button', { type: 'button', 'data-action': 'role', onclick: () => changeRole(env, row, user) },
        'Change role', sr(` of ${who}`)),
      user.disabled
        ? h('button', { type: 'button', 'data-action': 'enable', onclick: () => setDisabled(env, row, user, false) }, 'Enable', sr(` ${who}`))
        : h('button', { type: 'button', class: 'danger adm-danger', 'data-action': 'disable', onclick: () => setDisabled(env, row, user, true) }, 'Disable', sr(` ${who}`)),
      h('button', { type: 'button', 'data-action': 'sessions', onclick: () => revokeSessions(env, user) },
        'Sign out everywhere', sr(` (${who})`)),
      h('button', { type: 'button', 'data-action': 'factors', onclick: () => resetFactors(env, user) },
        'Reset 2FA', sr(` (second factors) of ${who}`))));
  return row;
}

function replaceRow(env, row, user, action) {
  const next = userRow(env, user);
  row.replaceWith(next);
  next.querySelector(`[data-action="${action}"]`)?.focus();
  return next;
}

async function changeRole(env, row, user) {
  const { ctx } = env;
  const who = `@${user.username}`;
  const choice = selectField('role-new', 'New role', user.role, ROLES.map((r) => [r, humanize(r)]));
  const yes = await env.ask({
    title: `Change the role of ${who}`,
    text: 'Moderators can remove anyone\'s posts; admins can also manage users and read the audit log. The change applies to their next request.'
      + (isSelf(env, user) ? ' This is your own account: without the admin role you lose this console.' : ''),
    confirm: 'Change role',
    extra: choice.node,
  });
  const role = choice.input.value;
  if (!yes) return;
  if (role === user.role) {
    ctx.say(`${who} is already ${article(role)}; nothing changed.`);
    return;
  }
  const res = await act(env, `/api/v1/admin/users/${encodeURIComponent(user.id)}`, json('PATCH', { role }), true);
  if (!res) return;
  const updated = await res.json();
  replaceRow(env, row, updated, 'role');
  ctx.say(`${who} is now ${article(updated.role)}.`, 'ok');
}

function isSelf(env, user) {
  return Boolean(env.me && env.me.id === user.id);
}

function article(role) {
  return role === 'admin' ? 'an admin' : `a ${role}`;
}

async function setDisabled(env, row, user, disabled) {
  const { ctx } = env;
  const who = `@${user.username}`;
  if (disabled) {
    const yes = await env.ask({
      title: `Disable ${who}?`,
      text: `${who} is signed out everywhere at once, cannot sign in, and their profile and posts are hidden until the account is enabled again.`
        + (isSelf(env, user) ? ' This is your own account: you will be signed out too.' : ''),
      confirm: 'Disable',
      danger: true,
    });
    if (!yes) return;
  }
  const res = await act(env, `/api/v1/admin/users/${encodeURIComponent(user.id)}`, json('PATCH', { disabled }), true);
  if (!res) return;
  const updated = await res.json();
  replaceRow(env, row, updated, disabled ? 'enable' : 'disable');
  ctx.say(disabled ? `${who} is disabled and signed out everywhere.` : `${who} is enabled again.`, 'ok');
}

async function revokeSessions(env, user) {
  const who = `@${user.username}`;
  const yes = await env.ask({
    title: `Sign ${who} out everywhere?`,
    text: `Every session of ${who} ends now, on every device. They can sign in again with their password.`,
    confirm: 'Sign out everywhere',
    danger: true,
  });
  if (!yes) return;
  const res = await act(env, `/api/v1/admin/users/${encodeURIComponent(user.id)}/sessions`, { method: 'DELETE' }, true);
  if (res) env.ctx.say(`${who} was signed out everywhere.`, 'ok');
}

async function resetFactors(env, user) {
  const who = `@${user.username}`;
  const yes = await env.ask({
    title: `Reset the second factors of ${who}?`,
    text: `Their authenticator app, recovery codes and passkeys stop working, and they sign in with the password alone until they set up new ones. ${who} gets a mail about it.`,
    confirm: 'Reset second factors',
    danger: true,
  });
  if (!yes) return;
  const res = await act(env, `/api/v1/admin/users/${encodeURIComponent(user.id)}/factors`, { method: 'DELETE' }, true);
  if (res) env.ctx.say(`The second factors of ${who} were removed.`, 'ok');
}

// ---------------------------------------------------------------------------------------------------
// Posts

async function postsView(env, params) {
  const { ctx, view } = env;
  const filters = { q: params.get('q') || '', author: params.get('author') || '', tag: params.get('tag') || '' };
  view.append(filterForm(env, '/admin/posts', 'Filter posts', [
    textField('q', 'Caption words', filters.q, { type: 'search', placeholder: 'Words in the caption' }),
    textField('author', 'Author', filters.author, { placeholder: 'username', autocapitalize: 'none', spellcheck: 'false' }),
    textField('tag', 'Tag', filters.tag, { placeholder: '#sunset', autocapitalize: 'none' }),
  ]));
  const status = h('p', { class: 'adm-status', role: 'status' }, 'Loading posts…');
  view.append(status);

  const query = { ...filters, author: filters.author.replace(/^@/, '') };
  const path = (cursor) => withQuery('/api/v1/posts', { ...query, cursor, limit: PAGE_SIZE });
  const result = await load(env, path(null));
  if (!env.current() || failed(env, result, status)) return;

  const grid = table('Posts, newest first', [
    { label: 'Image', class: 'adm-thumb-col' }, { label: 'Caption' }, { label: 'Author' }, { label: 'Posted' },
    { label: 'Actions', class: 'adm-actions-col' },
  ], 'posts');
  let count = 0;
  const counted = () => {
    status.textContent = count === 1 ? '1 post shown.' : `${count} posts shown.`;
  };
  const add = (items) => {
    let first = null;
    for (const post of items) {
      const row = postRow(env, post, () => {
        count -= 1;
        counted();
      }, grid);
      grid.tbody.append(row);
      first ||= row.querySelector('a, button');
      count += 1;
    }
    counted();
    return first;
  };
  const more = pager(env, 'posts', path, add);
  const items = result.data.items || [];
  if (!items.length) {
    status.textContent = '';
    view.append(empty(ctx, filters, '/admin/posts', 'No posts match these filters.', 'There are no posts yet.'));
    return;
  }
  add(items);
  more.set(result.data.next_cursor);
  view.append(grid.node, more.button);
}

function postRow(env, post, removed, grid) {
  const { ctx, me } = env;
  const author = post.author || {};
  names.set(author.id, author.username);
  const who = `@${author.username}`;
  const caption = (post.caption || '').trim();
  const image = post.image || {};
  const row = h('tr', { 'data-post': post.id },
    cell('Image', 'adm-thumb-cell',
      h('a', { href: image.url || image.display_url, target: '_blank', rel: 'noopener noreferrer' },
        h('img', {
          class: 'adm-thumb', src: image.thumbnail_url, alt: `Image posted by ${who} (opens in a new tab)`,
          width: 64, height: 64, loading: 'lazy', decoding: 'async',
        }))),
    cell('Caption', 'adm-caption',
      caption ? h('span', { class: 'adm-clamp' }, caption) : h('span', { class: 'adm-muted' }, 'No caption'),
      (post.tags || []).length
        ? h('span', { class: 'adm-tags' }, post.tags.map((t) => link(ctx, withQuery('/admin/posts', { tag: t }), `#${t}`)))
        : null),
    cell('Author', null,
      link(ctx, withQuery('/admin/posts', { author: author.username }), who, sr(' (all their posts)')),
      me.role === 'admin'
        ? h('span', { class: 'adm-sub' }, link(ctx, withQuery('/admin/users', { q: author.username }), 'Manage user', sr(` ${who}`)))
        : null),
    cell('Posted', null, time(post.created_at)),
    cell('Actions', 'adm-actions',
      h('button', { type: 'button', class: 'danger adm-danger', 'data-action': 'remove', onclick: () => removePost(env, row, post, removed, grid) },
        'Remove', sr(` the post by ${who}`))));
  return row;
}

async function removePost(env, row, post, removed, grid) {
  const { ctx } = env;
  const who = `@${post.author?.username}`;
  const caption = (post.caption || '').trim();
  const quoted = caption ? `“${caption.length > 80 ? `${caption.slice(0, 80)}…` : caption}”` : 'with no caption';
  const preview = h('figure', { class: 'adm-preview' },
    h('img', { src: post.image?.thumbnail_url, alt: '', width: 96, height: 96 }),
    h('figcaption', null, `${who}: ${quoted}`));
  const nextFocus = () => {
    const next = row.nextElementSibling || row.previousElementSibling;
    return next?.querySelector('[data-action="remove"]') || grid.caption;
  };
  const yes = await env.ask({
    title: 'Remove this post?',
    text: `The post by ${who} and its image are deleted for good. The audit log records who removed it.`,
    confirm: 'Remove post',
    danger: true,
    extra: preview,
  });
  if (!yes) return;
  let res;
  try {
    res = await ctx.api(`/api/v1/posts/${encodeURIComponent(post.id)}`, { method: 'DELETE' });
  } catch (_) {
    ctx.say('The server did not answer; the post was not removed.', 'error');
    return;
  }
  if (res && (res.ok || res.status === 404)) {
    const target = nextFocus();
    row.remove();
    removed();
    target?.focus();
    ctx.say(res.ok ? `The post by ${who} was removed.` : `The post by ${who} was already gone.`, 'ok');
  } else if (res && res.status === 403) {
    ctx.say(NO_ACCESS, 'error');
  } else if (res) {
    ctx.say(await sentence(env, res), 'error');
  }
}

// ---------------------------------------------------------------------------------------------------
// Audit log

async function auditView(env, params) {
  const { ctx, view } = env;
  const filters = { kind: params.get('kind') || '', user_id: params.get('user_id') || '' };
  const user = textField('user_id', 'User (username or ID)', names.get(filters.user_id) || filters.user_id,
    { placeholder: 'username or ID', autocapitalize: 'none', spellcheck: 'false' });
  user.read = () => userId(env, user.input.value.trim());
  view.append(filterForm(env, '/admin/audit', 'Filter the audit log', [
    selectField('kind', 'Event', filters.kind, [['', 'Any event'], ...KINDS.map((k) => [k, humanize(k)])]),
    user,
  ]));
  const status = h('p', { class: 'adm-status', role: 'status' }, 'Loading the audit log…');
  view.append(status);

  const path = (cursor) => withQuery('/api/v1/admin/audit', { ...filters, cursor, limit: PAGE_SIZE });
  // Names for the ids in the log: one page of users, loaded alongside (admins only, like the log).
  const [result] = await Promise.all([load(env, path(null)), names.size ? null : learnNames(env)]);
  if (!env.current() || failed(env, result, status)) return;
  if (filters.user_id && names.has(filters.user_id)) user.input.value = names.get(filters.user_id);

  const grid = table('Audit events, newest first', [
    { label: 'When' }, { label: 'Event' }, { label: 'By' }, { label: 'Concerning' }, { label: 'From' }, { label: 'Details' },
  ], 'audit');
  let count = 0;
  const add = (items) => {
    let first = null;
    for (const event of items) {
      const row = auditRow(env, event);
      grid.tbody.append(row);
      first ||= row.querySelector('a, button') || grid.caption;
      count += 1;
    }
    status.textContent = count === 1 ? '1 event shown.' : `${count} events shown.`;
    return first;
  };
  const more = pager(env, 'events', path, add);
  const items = result.data.items || [];
  if (!items.length) {
    status.textContent = '';
    view.append(empty(ctx, filters, '/admin/audit', 'No events match these filters.', 'The audit log is empty.'));
    return;
  }
  add(items);
  more.set(result.data.next_cursor);
  view.append(grid.node, more.button);
}

async function learnNames(env) {
  const result = await load(env, '/api/v1/admin/users?limit=100');
  for (const u of result.data?.items || []) names.set(u.id, u.username);
}

/** The user id for the audit filter: an id as is, a username looked up among the users. */
async function userId(env, text) {
  if (!text) return '';
  if (UUID.test(text)) return text.toLowerCase();
  const name = text.replace(/^@/, '').toLowerCase();
  for (const [id, known] of names) if (known.toLowerCase() === name) return id;
  const result = await load(env, withQuery('/api/v1/admin/users', { q: name, limit: 100 }));
  const match = (result.data?.items || []).find((u) => u.username.toLowerCase() === name);
  if (match) {
    names.set(match.id, match.username);
    return match.id;
  }
  env.ctx.say(result.denied ? NO_ACCESS : `There is no user named @${name}.`, 'error');
  return undefined;
}

function person(env, id) {
  if (!id) return h('span', { class: 'adm-muted' }, '—');
  const name = names.get(id);
  const text = name ? `@${name}` : `${id.slice(0, 8)}…`;
  return h('a', {
    href: withQuery('/admin/audit', { user_id: id }),
    title: id,
    onclick: (e) => follow(e, env.ctx, withQuery('/admin/audit', { user_id: id }), 'title'),
  }, text, sr(name ? ' (their events)' : ` (user ${id}, their events)`));
}

function auditRow(env, event) {
  const details = Object.entries(event.details && typeof event.details === 'object' ? event.details : {});
  return h('tr', { 'data-kind': event.kind },
    cell('When', 'adm-when', time(event.created_at)),
    cell('Event', 'adm-event', h('span', { class: 'adm-strong' }, humanize(event.kind)), h('code', { class: 'adm-sub' }, event.kind)),
    cell('By', event.actor_id ? null : 'adm-blank', person(env, event.actor_id)),
    cell('Concerning', event.target_id ? null : 'adm-blank', person(env, event.target_id)),
    cell('From', event.ip || event.user_agent ? 'adm-from' : 'adm-blank', event.ip || '—',
      event.user_agent ? h('span', { class: 'adm-sub adm-clamp', title: event.user_agent }, event.user_agent) : null),
    cell('Details', details.length ? null : 'adm-blank', details.length
      ? h('dl', { class: 'adm-details' }, details.map(([k, v]) => [h('dt', null, humanize(k)), h('dd', null, detail(env, k, v))]))
      : h('span', { class: 'adm-muted' }, '—')));
}

function detail(env, key, value) {
  if (typeof value === 'string' && UUID.test(value) && names.has(value)) return `@${names.get(value)}`;
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// ---------------------------------------------------------------------------------------------------
// Health

async function healthView(env) {
  const { view } = env;
  const status = h('p', { class: 'adm-status', role: 'status' }, 'Checking the instance…');
  const refresh = h('button', { type: 'button', class: 'secondary adm-secondary', 'data-focus': 'refresh' }, 'Check again');
  const body = h('div', { class: 'adm-health' });
  view.append(h('div', { class: 'adm-toolbar' }, status, refresh), body);

  let busy = false;
  const run = async (announce) => {
    if (busy) return;
    busy = true;
    refresh.setAttribute('aria-disabled', 'true');
    status.className = 'adm-status';
    status.textContent = 'Checking the instance…';
    const result = await load(env, '/api/v1/admin/health', true);
    busy = false;
    refresh.removeAttribute('aria-disabled');
    if (!env.current()) return;
    if (result.denied) {
      view.replaceChildren(h('p', { class: 'adm-denied', role: 'alert' }, NO_ACCESS),
        result.detail ? h('p', { class: 'adm-muted' }, result.detail) : null);
      return;
    }
    if (result.error) {
      status.className = 'adm-error';
      status.textContent = result.error;
      body.replaceChildren();
      if (announce) env.ctx.say(result.error, 'error');
      return;
    }
    const report = health(result.data || {});
    body.replaceChildren(report.node);
    status.textContent = report.summary;
    if (announce) env.ctx.say(report.summary, report.ok ? 'ok' : 'error');
  };
  refresh.addEventListener('click', () => run(true));
  await run(false);
}

/** Renders a health report generically: every check (an object under `checks`, or at the top level)
 *  gets a card with an OK/down badge, its latency and its other values, so new keys show up as is.
 *  Other top-level values go with the check they name (`storage_driver` with storage, `outbox` with
 *  mail), or else under the overall status. */
function health(data) {
  const list = data.checks && typeof data.checks === 'object'
    ? (Array.isArray(data.checks)
      ? data.checks.map((c, i) => [String(c?.name ?? i), c])
      : Object.entries(data.checks))
    : Object.entries(data).filter(([, v]) => v && typeof v === 'object' && !Array.isArray(v));
  const checks = list.map(([name, check]) => [name, check && typeof check === 'object' ? { ...check } : { ok: Boolean(check) }]);
  const byName = new Map(checks);
  const others = [];
  for (const [key, v] of Object.entries(data)) {
    if (key === 'checks' || key === 'status' || (!data.checks && byName.has(key))) continue;
    const owner = OWNERS[key] || checks.map(([n]) => n).find((n) => key.startsWith(`${n}_`));
    if (owner && byName.has(owner)) {
      const field = key.startsWith(`${owner}_`) ? key.slice(owner.length + 1) : key;
      byName.get(owner)[field] = v === null ? 'unavailable' : v;
    } else {
      others.push([key, v]);
    }
  }
  const cards = checks.map(([name, check]) => checkCard(name, check));
  const down = checks.filter(([, c]) => !healthy(c)).map(([n]) => humanize(n));
  // The server's own status (readiness) colours the overall badge; any check that is down is named.
  const serving = data.status ? /^(ok|healthy|up|pass)/i.test(String(data.status)) : !down.length;
  const ok = serving && !down.length;
  const summary = ok
    ? `All ${checks.length} checks are OK.`
    : `${down.length ? `Down: ${down.join(', ')}.` : `Status: ${data.status}.`}`;
  const flat = [];
  const flatten = (prefix, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, w] of Object.entries(v)) flatten(prefix ? `${prefix}_${k}` : k, w);
    else flat.push([prefix, v]);
  };
  for (const [k, v] of others) flatten(k, v);
  const overview = h('div', { class: 'adm-overall' },
    h('span', { class: 'adm-strong' }, 'Overall: '),
    badge(data.status ? statusText(data.status) : ok ? 'OK' : 'Degraded', serving ? 'ok' : 'down'),
    flat.length ? h('dl', { class: 'adm-details adm-inline' }, flat.map(([k, v]) => [h('dt', null, humanize(k)), h('dd', null, value(k, v))])) : null);
  return {
    ok,
    summary,
    node: h('div', null, overview,
      cards.length ? h('ul', { class: 'adm-cards', 'aria-label': 'Checks' }, cards) : h('p', { class: 'adm-empty' }, 'The server reported no checks.')),
  };
}

function statusText(status) {
  const text = String(status);
  return /^ok$/i.test(text) ? 'OK' : humanize(text);
}

// Top-level health values that belong to a check whose name they do not start with.
const OWNERS = { outbox: 'mail' };

function healthy(check) {
  if (!check || typeof check !== 'object') return Boolean(check);
  if ('ok' in check) return check.ok === true;
  if ('status' in check) return /^(ok|healthy|up|pass)/i.test(String(check.status));
  return true;
}

function checkCard(name, check) {
  const good = healthy(check);
  const id = `adm-check-${name.replace(/[^a-z0-9_-]/gi, '')}`;
  const fields = [];
  const flatten = (prefix, obj) => {
    for (const [k, v] of Object.entries(obj)) {
      if (!prefix && (k === 'ok' || k === 'status' && typeof v !== 'number')) continue;
      const key = prefix ? `${prefix} ${k}` : k;
      if (v && typeof v === 'object' && !Array.isArray(v)) flatten(key, v);
      else fields.push([key, k, v]);
    }
  };
  if (check && typeof check === 'object') flatten('', check);
  return h('li', { class: `adm-card ${good ? '' : 'adm-card-down'}`, 'aria-labelledby': id },
    h('div', { class: 'adm-card-head' },
      h('h2', { id }, humanize(name)),
      badge(good ? 'OK' : 'Down', good ? 'ok' : 'down')),
    fields.length
      ? h('dl', { class: 'adm-details' }, fields.map(([label, key, v]) => [
        h('dt', null, humanize(label)),
        h('dd', { class: /error|reason|message/i.test(key) ? 'adm-error-text' : null }, value(key, v)),
      ]))
      : null);
}

function value(key, v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') {
    const n = v.toLocaleString(undefined, { maximumFractionDigits: 1 });
    if (/_ms$/.test(key)) return v < 0.1 ? 'under 0.1 ms' : `${n} ms`;
    if (/_secs?$|_seconds$/.test(key)) return `${n} s`;
    if (/bytes$/.test(key)) return `${n} bytes`;
    return n;
  }
  if (Array.isArray(v)) return v.map(String).join(', ');
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) return time(v);
  return String(v);
}
