// One post at /p/{id}: the display rendition, the caption with its #tags linked, the author, the time,
// and for the owner caption editing (If-Match) and deletion; moderators and admins may delete too.
import { el, api, say, problemText, navigate, avatar, displayName, timeEl, confirmDialog, jsonInit, onSubmit, me, UNREACHABLE } from './core.js';
import { media, altText } from './feed.js';

// The caption as text nodes, each #tag a link to the tag's feed.
export function captionNodes(caption) {
  const nodes = [];
  const re = /#([\p{L}\p{N}_]+)/gu;
  let last = 0;
  for (const m of caption.matchAll(re)) {
    if (m.index > last) nodes.push(caption.slice(last, m.index));
    nodes.push(el('a', { href: '/?tag=' + encodeURIComponent(m[1].toLowerCase()), className: 'tag' }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < caption.length) nodes.push(caption.slice(last));
  return nodes;
}

export function post(main, ctx) {
  const id = ctx.params.id;
  const url = '/api/v1/posts/' + encodeURIComponent(id);
  let current = null;
  let etag = null;
  let stopped = false;
  let shown = false;
  const view = el('article', { className: 'post-view', 'aria-busy': 'true' }, el('h1', { className: 'visually-hidden' }, 'Post'), el('div', { className: 'media loading-box' }));
  main.append(view);

  async function load(message) {
    let res;
    try {
      res = await fetch(url);
    } catch (_) {
      if (!stopped) show404(UNREACHABLE);
      return;
    }
    if (stopped) return;
    if (res.status === 404) return show404('This post does not exist, or it was deleted.');
    if (!res.ok) return show404(await problemText(res));
    etag = res.headers.get('ETag');
    current = await res.json();
    if (stopped) return;
    render();
    if (message) say(message, 'error');
  }

  function show404(text) {
    view.removeAttribute('aria-busy');
    view.replaceChildren(el('div', { className: 'empty' }, el('h1', {}, 'Post not found'), el('p', { className: 'muted' }, text), el('a', { href: '/', className: 'button' }, 'Back to the feed')));
    view.querySelector('h1').tabIndex = -1;
    view.querySelector('h1').focus();
  }

  function render(editing) {
    const p = current;
    const mine = me && me.id === p.author.id;
    const staff = me && (me.role === 'admin' || me.role === 'moderator');
    const profile = '/u/' + encodeURIComponent(p.author.username);
    const caption = el('div', { className: 'post-caption', id: 'post-caption' }, p.caption ? captionNodes(p.caption) : el('span', { className: 'muted' }, 'No caption.'));
    const actions = el('div', { className: 'actions post-actions' });
    if (mine && !editing) actions.append(el('button', { type: 'button', className: 'secondary', id: 'edit-caption', onclick: () => render(true) }, 'Edit caption'));
    if ((mine || staff) && !editing) actions.append(el('button', { type: 'button', className: 'danger', id: 'delete-post', onclick: remove }, mine ? 'Delete post' : 'Delete post (moderation)'));

    let editor = null;
    if (editing) {
      const area = el('textarea', { id: 'caption-input', name: 'caption', rows: 5, maxLength: 2200, value: p.caption });
      editor = el(
        'form',
        { className: 'stack', id: 'caption-form' },
        el('div', { className: 'field' }, el('label', { htmlFor: 'caption-input' }, 'Caption'), area, el('p', { className: 'hint' }, 'Up to 2200 characters; #tags become links.')),
        el('div', { className: 'actions' }, el('button', { type: 'submit' }, 'Save caption'), el('button', { type: 'button', className: 'secondary', onclick: () => render(false) }, 'Cancel'))
      );
      onSubmit(editor, async () => {
        const res = await api(url, Object.assign(jsonInit('PATCH', { caption: area.value }), { headers: { 'Content-Type': 'application/json', 'If-Match': etag || '"' + p.id + '-v' + p.version + '"' } }));
        if (res.status === 412) {
          await load('This post was changed elsewhere in the meantime. It is reloaded now: check it and edit again.');
          return;
        }
        if (!res.ok) return say(await problemText(res), 'error');
        etag = res.headers.get('ETag') || etag;
        current = await res.json();
        render(false);
        say('The caption is saved.', 'ok');
        document.getElementById('edit-caption')?.focus();
      });
    }

    view.removeAttribute('aria-busy');
    view.replaceChildren(
      el('div', { className: 'post-media' }, media(p, ['thumbnail', 'display'], '(max-width: 900px) 100vw, 640px', altText(p), { eager: true })),
      el(
        'div',
        { className: 'post-side' },
        el('h1', { className: 'post-title' }, el('a', { href: profile, className: 'byline big' }, avatar(p.author), el('span', {}, el('span', { className: 'byline-name' }, displayName(p.author)), p.author.display_name ? el('span', { className: 'muted handle' }, '@' + p.author.username) : null))),
        el('p', { className: 'muted post-time' }, 'Posted ', timeEl(p.created_at), p.version > 1 ? ' · edited' : ''),
        editing ? editor : caption,
        actions
      )
    );
    if (editing) view.querySelector('#caption-input').focus();
    else if (!shown) {
      // The first render replaces the placeholder heading the router focused.
      const heading = view.querySelector('h1');
      heading.tabIndex = -1;
      if (document.activeElement === document.body || !document.activeElement || document.activeElement.closest('.post-view')) heading.focus({ preventScroll: true });
      document.title = 'Post by @' + p.author.username + ' · Rampart';
    }
    shown = true;
  }

  async function remove() {
    if (!(await confirmDialog('Delete this post? This cannot be undone.', 'Delete', true))) return;
    try {
      const res = await api(url, { method: 'DELETE' });
      if (res.status !== 204) return say(await problemText(res), 'error');
      navigate('/');
      say('The post is deleted.', 'ok');
    } catch (_) {
      say(UNREACHABLE, 'error');
    }
  }

  load();
  return () => {
    stopped = true;
  };
}
