// The feed: a responsive photo grid with infinite scroll, tag and text search reflected in the URL,
// blurhash placeholders and thumbnails only. Also the grid and picture helpers the post and profile
// views share.
import { el, say, problemText, safeUrl, navigate, avatar, displayName, timeEl, UNREACHABLE, me } from './core.js';
import { placeholder } from './blurhash.js';

const PAGE_SIZE = 20;

// The size of a rendition whose longest side is at most `bound` (never enlarged).
function bounded(image, bound) {
  const w = image.width || bound;
  const h = image.height || bound;
  const scale = Math.min(1, bound / Math.max(w, h));
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
}

const srcsetUrl = (url) => safeUrl(url).replace(/ /g, '%20').replace(/,/g, '%2C');

// The renditions of an image as {name, content_type, width, url}: the API's `renditions` when it
// has them, else the thumbnail and display URLs with their computed widths.
export function renditions(image) {
  if (Array.isArray(image.renditions) && image.renditions.length) {
    return image.renditions.filter((r) => r && r.url && r.width > 0 && safeUrl(r.url));
  }
  const type = image.content_type === 'image/jpeg' ? 'image/jpeg' : 'image/png';
  const list = [];
  if (image.thumbnail_url) list.push(Object.assign({ name: 'thumbnail', content_type: type, url: image.thumbnail_url }, bounded(image, 320)));
  if (image.display_url) list.push(Object.assign({ name: 'display', content_type: type, url: image.display_url }, bounded(image, 1080)));
  return list;
}

// <picture> over the renditions named in `names`: a WebP <source> when there are WebP renditions,
// and an <img> with the JPEG/PNG ones. `sizes` says how wide it is shown.
export function picture(post, names, sizes, alt, eager) {
  const image = post.image;
  const all = renditions(image).filter((r) => names.includes(r.name));
  const byWidth = (a, b) => a.width - b.width;
  const webp = all.filter((r) => r.content_type === 'image/webp').sort(byWidth);
  let plain = all.filter((r) => r.content_type !== 'image/webp').sort(byWidth);
  if (!plain.length) plain = webp; // only WebP renditions: the <img> uses them
  const fallback = plain[0] || { url: image.thumbnail_url || image.display_url, width: image.width };
  const { width, height } = bounded(image, 1080);
  const img = el('img', {
    alt,
    width,
    height,
    loading: eager ? 'eager' : 'lazy',
    decoding: 'async',
    sizes,
    className: 'photo',
  });
  if (eager) img.setAttribute('fetchpriority', 'high');
  img.addEventListener('load', () => img.classList.add('loaded'), { once: true });
  img.addEventListener('error', () => img.classList.add('failed'), { once: true });
  if (plain.length) img.srcset = plain.map((r) => srcsetUrl(r.url) + ' ' + r.width + 'w').join(', ');
  img.src = safeUrl(fallback.url);
  const pic = el('picture', {});
  if (webp.length && plain !== webp) {
    pic.append(el('source', { type: 'image/webp', srcset: webp.map((r) => srcsetUrl(r.url) + ' ' + r.width + 'w').join(', '), sizes }));
  }
  pic.append(img);
  return pic;
}

// The frame that keeps the space: the blurhash canvas under the picture. `square` crops (grid);
// otherwise the frame has the image's aspect ratio.
export function media(post, names, sizes, alt, { square = false, eager = false } = {}) {
  const image = post.image;
  const ratio = image.width > 0 && image.height > 0 ? image.width / image.height : 1;
  const frame = el('div', { className: 'media' + (square ? ' square' : '') });
  if (!square) frame.style.aspectRatio = image.width + ' / ' + image.height;
  const hash = placeholder(image.blurhash, square ? 1 : ratio);
  if (hash) frame.append(hash);
  frame.append(picture(post, names, sizes, alt, eager));
  return frame;
}

export function altText(post) {
  const caption = (post.caption || '').trim();
  return caption ? caption.slice(0, 200) : 'Photo by @' + post.author.username;
}

export function card(post, index) {
  const href = '/p/' + encodeURIComponent(post.id);
  return el(
    'li',
    { className: 'card' },
    el('a', { href, className: 'card-media' }, media(post, ['thumbnail'], '(max-width: 640px) 50vw, (max-width: 1100px) 33vw, 300px', altText(post), { square: true, eager: index < 4 })),
    el(
      'div',
      { className: 'card-body' },
      el('a', { href: '/u/' + encodeURIComponent(post.author.username), className: 'byline' }, avatar(post.author, 'tiny'), el('span', { className: 'byline-name' }, displayName(post.author))),
      timeEl(post.created_at),
      post.caption ? el('p', { className: 'card-caption' }, post.caption) : null
    )
  );
}

function skeletons(n) {
  return Array.from({ length: n }, () => el('li', { className: 'card skeleton', 'aria-hidden': 'true' }, el('div', { className: 'media square' }), el('div', { className: 'card-body' }, el('span', { className: 'bone' }), el('span', { className: 'bone short' }))));
}

// A grid that loads pages of `url(cursor)` as the sentinel nears the viewport. Returns
// {element, stop}. `empty` is the node shown when there is nothing at all.
export function postGrid(makeUrl, empty, label) {
  const list = el('ul', { className: 'grid', 'aria-label': label, id: 'posts' });
  const status = el('p', { className: 'grid-status muted', 'aria-live': 'polite' });
  const more = el('button', { type: 'button', className: 'secondary', id: 'more', hidden: true }, 'Load more');
  const sentinel = el('div', { className: 'sentinel', 'aria-hidden': 'true' });
  const wrap = el('div', { className: 'grid-wrap' }, list, empty, sentinel, el('div', { className: 'grid-foot' }, status, more));
  empty.hidden = true;
  let cursor = null;
  let loading = false;
  let done = false;
  let stopped = false;
  let count = 0;

  async function load() {
    if (loading || done || stopped) return;
    loading = true;
    more.hidden = true;
    const first = count === 0;
    const bones = first ? skeletons(8) : [];
    list.append(...bones);
    if (!first) status.textContent = 'Loading more posts…';
    try {
      const res = await fetch(makeUrl(cursor));
      if (stopped) return;
      if (!res.ok) {
        const text = await problemText(res);
        status.textContent = text;
        say(text, 'error');
        more.hidden = false;
        return;
      }
      const page = await res.json();
      if (stopped) return;
      bones.forEach((b) => b.remove());
      list.append(...page.items.map((p, i) => card(p, count + i)));
      count += page.items.length;
      cursor = page.next_cursor;
      done = !cursor;
      empty.hidden = count > 0;
      list.hidden = count === 0;
      status.textContent = done && count > 0 ? 'You have seen everything.' : '';
      more.hidden = done;
    } catch (_) {
      if (stopped) return;
      status.textContent = UNREACHABLE;
      more.hidden = false;
    } finally {
      bones.forEach((b) => b.remove());
      loading = false;
    }
    // Still room on the screen? Look again (observing anew reports the current intersection).
    if (!done && observer) {
      observer.unobserve(sentinel);
      observer.observe(sentinel);
    }
  }

  const observer = 'IntersectionObserver' in window
    ? new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) load();
      }, { rootMargin: '0px 0px 800px 0px' })
    : null;
  more.addEventListener('click', load);
  load().then(() => observer && observer.observe(sentinel));

  return {
    element: wrap,
    stop() {
      stopped = true;
      if (observer) observer.disconnect();
    },
  };
}

// "#sunset beach" → {tag: 'sunset', q: 'beach'}.
function parseSearch(text) {
  let tag = '';
  const words = [];
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    if (word.startsWith('#') && word.length > 1 && !tag) tag = word.slice(1).toLowerCase();
    else words.push(word);
  }
  return { tag, q: words.join(' ') };
}

export function feed(main, ctx) {
  const params = ctx.query;
  const tag = (params.get('tag') || '').replace(/^#/, '').trim();
  const q = (params.get('q') || '').trim();
  const title = tag && q ? '#' + tag + ' · “' + q + '”' : tag ? '#' + tag : q ? 'Results for “' + q + '”' : 'Latest posts';

  const input = el('input', {
    type: 'search',
    name: 'search',
    id: 'search',
    value: [tag ? '#' + tag : '', q].filter(Boolean).join(' '),
    placeholder: 'Words or #tag',
    autocomplete: 'off',
    enterKeyHint: 'search',
  });
  const form = el(
    'form',
    { role: 'search', className: 'search', id: 'filter-form', method: 'get', action: '/' },
    el('label', { htmlFor: 'search', className: 'visually-hidden' }, 'Search posts by words or #tag'),
    input,
    el('button', { type: 'submit' }, 'Search')
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const found = parseSearch(input.value);
    const next = new URLSearchParams();
    if (found.tag) next.set('tag', found.tag);
    if (found.q) next.set('q', found.q);
    const query = next.toString();
    navigate('/' + (query ? '?' + query : ''));
  });

  const filtered = Boolean(tag || q);
  const empty = el(
    'div',
    { className: 'empty', id: 'feed-empty' },
    el('p', { className: 'empty-title' }, filtered ? 'No posts match.' : 'No posts yet.'),
    el('p', { className: 'muted' }, filtered ? 'Try other words or another tag.' : me ? 'Share the first picture.' : 'Sign in and share the first picture.'),
    filtered ? el('a', { href: '/', className: 'button secondary' }, 'Show all posts') : el('a', { href: me ? '/upload' : '/sign-in?next=%2Fupload', className: 'button' }, 'New post')
  );

  const grid = postGrid(
    (cursor) => {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (tag) query.set('tag', tag);
      if (q) query.set('q', q);
      if (cursor) query.set('cursor', cursor);
      return '/api/v1/posts?' + query;
    },
    empty,
    title
  );

  main.append(
    el(
      'section',
      { className: 'feed', 'aria-labelledby': 'feed-title' },
      el('div', { className: 'feed-head' }, el('h1', { id: 'feed-title' }, title), form),
      filtered ? el('p', { className: 'filter-note' }, 'Filtered. ', el('a', { href: '/', id: 'clear-filter' }, 'Show all posts')) : null,
      grid.element
    )
  );
  return () => grid.stop();
}
