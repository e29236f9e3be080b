// A profile at /u/{username}: initials, display name, bio, and the user's posts in the grid.
import { el, problemText, avatar, me, UNREACHABLE } from './core.js';
import { postGrid } from './feed.js';

export function profile(main, ctx) {
  const username = ctx.params.username.toLowerCase();
  const base = '/api/v1/users/' + encodeURIComponent(username);
  const head = el('header', { className: 'profile-head', 'aria-busy': 'true' }, el('h1', { className: 'visually-hidden' }, '@' + username));
  const section = el('section', { className: 'profile' }, head);
  main.append(section);
  let grid = null;
  let stopped = false;

  (async () => {
    let res;
    try {
      res = await fetch(base);
    } catch (_) {
      head.replaceChildren(el('h1', {}, '@' + username), el('p', { className: 'muted' }, UNREACHABLE));
      return;
    }
    if (stopped) return;
    if (!res.ok) {
      head.removeAttribute('aria-busy');
      const text = res.status === 404 ? 'There is no user with this name.' : await problemText(res);
      head.replaceChildren(el('div', { className: 'empty' }, el('h1', {}, 'User not found'), el('p', { className: 'muted' }, text), el('a', { href: '/', className: 'button' }, 'Back to the feed')));
      return;
    }
    const user = await res.json();
    if (stopped) return;
    const own = me && me.id === user.id;
    const joined = new Date(user.created_at).toLocaleDateString(undefined, { year: 'numeric', month: 'long' });
    head.removeAttribute('aria-busy');
    const title = el('h1', { className: 'profile-name', tabIndex: -1 }, user.display_name || '@' + user.username);
    head.replaceChildren(
      avatar(user, 'large'),
      el(
        'div',
        { className: 'profile-text' },
        title,
        el('p', { className: 'muted handle' }, '@' + user.username + ' · joined ' + joined),
        user.bio ? el('p', { className: 'bio' }, user.bio) : own ? el('p', { className: 'muted' }, 'No bio yet.') : null,
        own ? el('a', { href: '/settings/profile', className: 'button secondary small' }, 'Edit profile') : null
      )
    );
    if (document.activeElement === document.body || !document.activeElement) title.focus({ preventScroll: true });
    document.title = (user.display_name || '@' + user.username) + ' · Rampart';
    const empty = el(
      'div',
      { className: 'empty' },
      el('p', { className: 'empty-title' }, own ? 'You have not posted yet.' : 'No posts yet.'),
      own ? el('a', { href: '/upload', className: 'button' }, 'New post') : null
    );
    grid = postGrid(
      (cursor) => base + '/posts?' + new URLSearchParams(Object.assign({ limit: '20' }, cursor ? { cursor } : {})),
      empty,
      'Posts by @' + user.username
    );
    section.append(el('h2', { className: 'section-title' }, 'Posts'), grid.element);
  })();

  return () => {
    stopped = true;
    if (grid) grid.stop();
  };
}
