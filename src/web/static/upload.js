// A new post: pick or drop an image, see it, check its type and size before sending, then send it
// with XMLHttpRequest so the progress bar is real, with an Idempotency-Key so a retry cannot post twice.
import { el, say, problemText, upload as send, navigate, api, me, formatBytes, UPLOAD_LIMIT, UNREACHABLE, sentence, loadInstance } from './core.js';

const TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

// One key per chosen image and caption: resubmitting the same post after a lost answer replays it.
function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// The sentence for a refused upload: problemText's, except that a quota is a posting limit here.
async function refusal(res) {
  if (res.status === 429) {
    const s = Number(res.headers.get('Retry-After'));
    const wait = !Number.isFinite(s) || s <= 0 ? 'a little while' : s < 90 ? s + ' seconds' : Math.ceil(s / 60) + ' minutes';
    return 'You have reached your posting limit for now. You can post again in ' + wait + '.';
  }
  return problemText(res);
}

export async function upload(main) {
  await loadInstance();
  if (!me) {
    navigate('/sign-in?next=%2Fupload', true);
    return;
  }

  let key = idempotencyKey();
  let chosen = null;
  const input = el('input', { type: 'file', id: 'image-input', name: 'image', accept: TYPES.join(','), className: 'file-input', 'aria-describedby': 'image-hint' });
  const preview = el('canvas', { className: 'preview', hidden: true, 'aria-hidden': 'true' });
  const dropText = el('span', { className: 'drop-text' }, el('strong', {}, 'Choose an image'), el('span', {}, ' or drop it here'));
  const fileInfo = el('p', { className: 'file-info muted', id: 'file-info' });
  const drop = el('label', { htmlFor: 'image-input', className: 'drop', id: 'drop' }, preview, dropText);
  const caption = el('textarea', { id: 'caption', name: 'caption', rows: 4, maxLength: 2200, placeholder: 'Golden hour #sunset' });
  const counter = el('span', { className: 'hint counter', 'aria-live': 'off' }, '0 / 2200');
  const progress = el('progress', { id: 'upload-progress', max: 100, value: 0, 'aria-labelledby': 'progress-label' });
  const progressLabel = el('span', { id: 'progress-label' }, 'Uploading');
  const progressText = el('span', { className: 'muted', id: 'progress-text' });
  const progressBox = el('div', { className: 'progress', hidden: true }, el('div', { className: 'progress-head' }, progressLabel, progressText), progress);
  const submit = el('button', { type: 'submit', id: 'upload-submit' }, 'Post');
  const error = el('p', { className: 'field-error', id: 'image-error', role: 'alert' });

  const unverified = !me.email_verified;
  const form = el(
    'form',
    { className: 'stack upload-form', id: 'upload-form', noValidate: true },
    unverified
      ? el('div', { className: 'notice', id: 'unverified' }, el('p', {}, 'Verify your email address before posting: follow the link in the mail we sent you.'), el('button', { type: 'button', className: 'secondary', id: 'resend', onclick: resend }, 'Send the link again'))
      : null,
    el('div', { className: 'field' }, el('span', { className: 'label', id: 'image-label' }, 'Image'), drop, input, el('p', { className: 'hint', id: 'image-hint' }, 'JPEG, PNG, GIF or WebP, up to ' + formatBytes(UPLOAD_LIMIT) + '.'), fileInfo, error),
    el('div', { className: 'field' }, el('label', { htmlFor: 'caption' }, 'Caption'), caption, counter),
    progressBox,
    el('div', { className: 'actions' }, submit, el('a', { href: '/', className: 'button secondary' }, 'Cancel'))
  );

  main.append(el('section', { className: 'narrow-page' }, el('h1', {}, 'New post'), el('div', { className: 'panel' }, form)));

  caption.addEventListener('input', () => {
    counter.textContent = caption.value.length + ' / 2200';
    key = idempotencyKey();
  });

  function check(file) {
    if (!file) return 'Choose an image first.';
    if (!TYPES.includes(file.type)) return '“' + file.name + '” is not a JPEG, PNG, GIF or WebP image.';
    if (file.size === 0) return '“' + file.name + '” is empty.';
    if (file.size > UPLOAD_LIMIT) return '“' + file.name + '” is ' + formatBytes(file.size) + '; the largest image Rampart accepts is ' + formatBytes(UPLOAD_LIMIT) + '.';
    return null;
  }

  async function choose(file) {
    chosen = file || null;
    key = idempotencyKey();
    error.textContent = '';
    fileInfo.textContent = file ? file.name + ' · ' + formatBytes(file.size) : '';
    preview.hidden = true;
    drop.classList.remove('has-preview');
    const problem = check(file);
    if (problem) {
      if (file) error.textContent = sentence(problem);
      return;
    }
    // Drawn into a canvas: the policy allows no blob: images, and this also shows the picture upright.
    try {
      const bitmap = await createImageBitmap(file);
      // Big images are drawn smaller; tiny ones larger, so the preview is something to look at.
      const longest = Math.max(bitmap.width, bitmap.height);
      const scale = Math.min(1200 / longest, Math.max(1, 480 / longest));
      preview.width = Math.round(bitmap.width * scale);
      preview.height = Math.round(bitmap.height * scale);
      preview.getContext('2d').drawImage(bitmap, 0, 0, preview.width, preview.height);
      bitmap.close();
      preview.hidden = false;
      drop.classList.add('has-preview');
      dropText.replaceChildren(el('span', {}, 'Choose another image'));
    } catch (_) {
      fileInfo.textContent += ' · no preview (the browser cannot show it; the server will check it).';
    }
  }

  input.addEventListener('change', () => choose(input.files[0]));
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const file = event.dataTransfer.files[0];
    if (!file) return;
    const list = new DataTransfer();
    list.items.add(file);
    input.files = list.files;
    choose(file);
  });

  async function resend() {
    try {
      const res = await api('/api/v1/auth/verify-email/resend', { method: 'POST' });
      if (!res.ok) return say(await problemText(res), 'error');
      say('The verification mail is on its way.', 'ok');
    } catch (_) {
      say(UNREACHABLE, 'error');
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const problem = check(chosen);
    if (problem) {
      error.textContent = sentence(problem);
      input.focus();
      return;
    }
    const data = new FormData();
    data.append('caption', caption.value);
    data.append('image', chosen, chosen.name);
    submit.disabled = true;
    input.disabled = true;
    progressBox.hidden = false;
    progress.value = 0;
    progressLabel.textContent = 'Uploading';
    progressText.textContent = '0%';
    form.setAttribute('aria-busy', 'true');
    try {
      const res = await send('/api/v1/posts', data, {
        headers: { 'Idempotency-Key': key },
        onProgress(loaded, total) {
          const pct = Math.round((loaded / total) * 100);
          progress.value = pct;
          progressText.textContent = pct + '%';
          if (pct >= 100) progressLabel.textContent = 'Processing';
        },
      });
      if (res.status !== 201) {
        progressBox.hidden = true;
        // Said next to the image field (role=alert), where the next step happens.
        error.textContent = await refusal(res);
        return;
      }
      progress.value = 100;
      progressLabel.textContent = 'Posted';
      progressText.textContent = '100%';
      const created = await res.json();
      navigate('/');
      say('Your post is published.', 'ok');
      void created;
    } catch (_) {
      progressBox.hidden = true;
      say('The upload did not finish: Rampart could not be reached. Check your connection and try again.', 'error');
    } finally {
      submit.disabled = false;
      input.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
}
