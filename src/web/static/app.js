// Rampart's web app: the router and the header. Every view lives in its own module, loaded when it
// is first shown (the admin console only for /admin paths). See core.js for the session.
import * as core from './core.js';
import { el, say, navigate, safeNext } from './core.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');

// [pattern, module, view name]; the first match wins. `:name` captures one path segment.
const ROUTES = [
  ['/', () => import('./feed.js'), 'feed'],
  ['/p/:id', () => import('./post.js'), 'post'],
  ['/u/:username', () => import('./profile.js'), 'profile'],
  ['/upload', () => import('./upload.js'), 'upload'],
  ['/settings', () => import('./settings.js'), 'settings'],
  ['/settings/:section', () => import('./settings.js'), 'settings'],
  ['/sign-in', () => import('./auth.js'), 'signIn'],
  ['/register', () => import('./auth.js'), 'register'],
  ['/forgot-password', () => import('./auth.js'), 'forgot'],
  ['/verify-email', () => import('./auth.js'), 'verify'],
  ['/reset-password', () => import('./auth.js'), 'reset'],
  ['/confirm-email', () => import('./auth.js'), 'confirm'],
];

function match(pathname) {
  const parts = pathname.replace(/\/+$/, '').split('/').slice(1);
  for (const [pattern, load, view] of ROUTES) {
    const want = pattern.replace(/\/+$/, '').split('/').slice(1);
    if (want.length !== parts.length) continue;
    const params = {};
    let ok = true;
    want.forEach((w, i) => {
      if (w.startsWith(':')) {
        try {
          params[w.slice(1)] = decodeURIComponent(parts[i]);
        } catch (_) {
          ok = false;
        }
      } else if (w !== parts[i]) ok = false;
    });
    if (ok) return { load, view, params };
  }
  return null;
}

let cleanup = null;
let serial = 0;

// The context every view gets: the contract of core.js plus the route's parameters.
function context(params) {
  return {
    api: core.api,
    sensitive: core.sensitive,
    say,
    problemText: core.problemText,
    me: core.me,
    navigate,
    path: location.pathname + location.search,
    el,
    params,
    query: new URLSearchParams(location.search),
  };
}

// Moves focus to the new view's heading, so screen readers announce it and Tab starts there.
function focusHeading() {
  const heading = main.querySelector('h1, h2');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
    document.title = heading.textContent + ' · Rampart';
  } else {
    main.focus({ preventScroll: true });
  }
}

const RELOADED = 'reloadedForRelease';

async function route() {
  core.updatePath();
  const mine = ++serial;
  if (cleanup) {
    try {
      cleanup();
    } catch (_) {}
    cleanup = null;
  }
  renderNav();
  main.setAttribute('aria-busy', 'true');
  try {
    if (location.pathname === '/admin' || location.pathname.startsWith('/admin/')) {
      if (!core.me) {
        const auth = await import('./auth.js');
        if (mine !== serial) return;
        main.replaceChildren();
        auth.signIn(main, context({}), location.pathname + location.search);
      } else {
        const admin = await import('./admin.js');
        if (mine !== serial) return;
        main.replaceChildren();
        cleanup = (await admin.mount(main, context({}))) || null;
      }
    } else {
      const found = match(location.pathname);
      if (!found) {
        main.replaceChildren(
          el('section', { className: 'empty' }, el('h1', {}, 'Page not found'), el('p', {}, 'There is nothing at this address.'), el('p', {}, el('a', { href: '/', className: 'button' }, 'Go to the feed')))
        );
      } else {
        const module = await found.load();
        if (mine !== serial) return;
        main.replaceChildren();
        const result = await module[found.view](main, context(found.params));
        cleanup = (typeof result === 'function' ? result : null) || null;
      }
    }
  } catch (e) {
    console.warn(e);
    if (mine !== serial) return;
    // A module of the release this page came with is gone: a new release was deployed while the
    // page was open. Load the new shell once instead of showing an error.
    // The mark lives in this history entry's state, which a reload keeps, so it reloads only once.
    if (e instanceof TypeError && /import/i.test(e.message) && !(history.state && history.state[RELOADED])) {
      history.replaceState(Object.assign({}, history.state, { [RELOADED]: true }), '');
      location.reload();
      return;
    }
    main.replaceChildren(el('section', { className: 'empty' }, el('h1', {}, 'This page did not load'), el('p', {}, core.UNREACHABLE)));
  } finally {
    if (mine === serial) main.removeAttribute('aria-busy');
  }
  if (mine === serial) {
    if (!firstRoute) focusHeading();
    else {
      const heading = main.querySelector('h1, h2');
      if (heading) document.title = heading.textContent + ' · Rampart';
    }
    firstRoute = false;
  }
}
let firstRoute = true;

function navLink(href, text, extra) {
  const here = location.pathname === href || (href !== '/' && location.pathname.startsWith(href + '/'));
  return el('a', Object.assign({ href, className: 'nav-link', 'aria-current': here ? 'page' : null }, extra || {}), text);
}

function renderNav() {
  const user = core.me;
  if (!user) {
    nav.replaceChildren(navLink('/', 'Feed'), navLink('/sign-in', 'Sign in'), el('a', { href: '/register', className: 'button small' }, 'Create account'));
    return;
  }
  const staff = user.role === 'admin' || user.role === 'moderator';
  const items = [
    navLink('/', 'Feed'),
    el('a', { href: '/upload', className: 'button small', id: 'nav-upload' }, '+ New post'),
    staff ? navLink('/admin', 'Console', { id: 'nav-console' }) : null,
    navLink('/settings', 'Settings'),
    el(
      'a',
      { href: '/u/' + encodeURIComponent(user.username), className: 'nav-me', id: 'whoami', title: 'Your profile' },
      core.avatar(user, 'small'),
      el('span', { id: 'whoami-name', className: 'nav-me-name' }, '@' + user.username)
    ),
    el('button', { type: 'button', id: 'sign-out', className: 'nav-link', onclick: signOut }, 'Sign out'),
  ];
  nav.replaceChildren(...items.filter(Boolean));
}

async function signOut() {
  await core.signOut();
  say('You are signed out.', 'ok');
  navigate('/');
}

// Links inside the app navigate without reloading the page.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/docs') || url.pathname.startsWith('/media/') || url.pathname.startsWith('/assets/')) return;
  event.preventDefault();
  if (url.pathname + url.search === location.pathname + location.search && !url.hash) {
    route();
    return;
  }
  say('');
  navigate(url.pathname + url.search + url.hash);
});

window.addEventListener('popstate', () => route());

// The session: the header follows it; a session that ends shows the sign-in view and says why.
core.onSessionChange((_, reason) => {
  renderNav();
  if (reason === 'signed-in' && firstRoute === false && /^\/(sign-in|register)$/.test(location.pathname)) {
    // Signed in in another tab while this one showed the sign-in form.
    navigate(safeNext(new URLSearchParams(location.search).get('next')), true);
  }
});
core.onSessionEnded((message) => {
  const next = location.pathname + location.search;
  const publicView = next === '/' || /^\/(p|u)\//.test(location.pathname) || /^\/(sign-in|register|forgot-password|verify-email|reset-password|confirm-email)$/.test(location.pathname);
  if (location.pathname === '/sign-in') route();
  else navigate(publicView ? '/sign-in' : '/sign-in?next=' + encodeURIComponent(next));
  say(message, 'error');
});
core.setRouter(route);

// The session is re-checked when the tab comes back and every minute while it is visible, so a tab
// left open learns that its session was revoked or its account disabled.
let lastCheck = 0;
function recheck() {
  // focus and visibilitychange often come together: one check serves both.
  if (document.hidden || !core.me || Date.now() - lastCheck < 1000) return;
  lastCheck = Date.now();
  core.checkSession();
}
document.addEventListener('visibilitychange', recheck);
window.addEventListener('focus', recheck);
let lastTick = Date.now();
setInterval(() => {
  if (Date.now() - Math.max(lastCheck, lastTick) >= 55000) {
    lastTick = Date.now();
    recheck();
  }
}, 5000);

(async () => {
  await core.resumeSession();
  await route();
})();

