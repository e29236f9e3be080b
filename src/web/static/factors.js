// Second factors in the settings: the authenticator app (TOTP) with recovery codes, and passkeys
// (WebAuthn). Enrolling, new codes and removing a passkey need a recent sign-in (step-up).
import { el, panel, api, sensitive, say, problemText, onSubmit, failed, field, jsonInit, factorBody, confirmDialog, UNREACHABLE } from './core.js';

export const passkeysSupported = Boolean(window.PublicKeyCredential && navigator.credentials);

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
export async function ceremony(kind, options) {
  try {
    const credential = await navigator.credentials[kind](withBuffers(options));
    return credential ? credentialJson(credential) : null;
  } catch (_) {
    say('The passkey was not used (cancelled, or not available here).', 'error');
    return null;
  }
}

// The "Security" section of the settings.
export function security(container) {
  const status = el('p', { id: 'mfa-status', className: 'status-line', 'aria-live': 'polite' }, 'Loading…');
  const enrol = el('button', { type: 'button', id: 'mfa-enrol', hidden: true }, 'Set up an authenticator app');
  const qr = el('img', { id: 'mfa-qr', alt: 'QR code holding your authenticator key', width: 200, height: 200 });
  const secret = el('code', { id: 'mfa-secret' });
  const confirmForm = el(
    'form',
    { id: 'mfa-confirm-form', className: 'inline-form', method: 'post', action: '/settings/security' },
    field('First code from the app', { name: 'code', inputMode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxLength: 6, required: true, id: 'mfa-first-code' }),
    el('button', { type: 'submit' }, 'Turn on')
  );
  const enrolment = el(
    'div',
    { id: 'mfa-enrolment', className: 'sub-panel', hidden: true },
    el('p', {}, 'Scan this code with your authenticator app, or type the key into it. It is shown only now.'),
    qr,
    el('p', {}, 'Key: ', secret),
    confirmForm
  );
  const codeList = el('ol', { id: 'mfa-code-list', className: 'codes' });
  const codes = el('div', { id: 'mfa-codes', className: 'sub-panel', hidden: true }, el('p', {}, 'Your recovery codes. Each works once if you lose your phone. Keep them somewhere safe: they are shown only now.'), codeList);
  const newCodes = el('button', { type: 'button', id: 'mfa-new-codes', className: 'secondary' }, 'New recovery codes');
  const disableForm = el(
    'form',
    { id: 'mfa-disable-form', className: 'inline-form', method: 'post', action: '/settings/security' },
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, id: 'mfa-off-password' }),
    field('Code or recovery code', { name: 'factor', autocomplete: 'one-time-code', required: true, maxLength: 64, id: 'mfa-off-code' }),
    el('button', { type: 'submit', className: 'danger' }, 'Turn off')
  );
  const manage = el('div', { id: 'mfa-manage', hidden: true, className: 'stack' }, el('div', {}, newCodes), el('h4', {}, 'Turn off two-step sign-in'), disableForm);

  const passkeyList = el('ul', { id: 'passkey-list', className: 'rows' });
  const addForm = el(
    'form',
    { id: 'passkey-add-form', className: 'inline-form', method: 'post', action: '/settings/security', hidden: !passkeysSupported },
    field('Name for a new passkey', { name: 'name', maxLength: 64, placeholder: 'Laptop', required: true, id: 'passkey-name' }),
    el('button', { type: 'submit' }, 'Add a passkey')
  );

  container.append(
    panel('mfa', 'Two-step sign-in', null, status, enrol, enrolment, codes, manage),
    panel(
      'passkeys',
      'Passkeys',
      null,
      el('p', { className: 'muted' }, 'Sign in with your fingerprint, face or device PIN instead of a password.'),
      passkeysSupported ? null : el('p', { className: 'muted', id: 'passkeys-unsupported' }, 'This browser cannot use passkeys.'),
      passkeyList,
      addForm
    )
  );

  async function loadFactors() {
    const res = await api('/api/v1/me/mfa');
    if (!res.ok) {
      status.textContent = await problemText(res);
      return;
    }
    const factors = await res.json();
    status.textContent = factors.totp
      ? 'On: signing in asks for a code from your authenticator app. Recovery codes left: ' + factors.recovery_codes_left + '.'
      : 'Off: signing in needs only your password.';
    enrol.hidden = factors.totp || !enrolment.hidden;
    manage.hidden = !factors.totp;
  }

  function showCodes(list) {
    codeList.replaceChildren(...list.map((code) => el('li', {}, code)));
    codes.hidden = false;
  }

  enrol.addEventListener('click', async () => {
    try {
      const res = await sensitive('/api/v1/me/mfa/totp', { method: 'POST' });
      if (res.status !== 201) return say(await problemText(res), 'error');
      const started = await res.json();
      // As an image, the SVG can run nothing and needs no inline style.
      qr.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(started.qr_svg);
      secret.textContent = started.secret;
      enrolment.hidden = false;
      enrol.hidden = true;
      confirmForm.elements.code.focus();
    } catch (_) {
      say(UNREACHABLE, 'error');
    }
  });

  onSubmit(confirmForm, async (form) => {
    const res = await api('/api/v1/me/mfa/totp/confirm', jsonInit('POST', { code: form.elements.code.value.trim() }));
    if (!res.ok) return say(await problemText(res), 'error');
    form.reset();
    enrolment.hidden = true;
    secret.textContent = '';
    showCodes((await res.json()).recovery_codes);
    say('Two-step sign-in is on. Save your recovery codes now.', 'ok');
    await loadFactors();
  });

  newCodes.addEventListener('click', async () => {
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

  onSubmit(disableForm, async (form) => {
    const body = Object.assign({ password: form.elements.password.value }, factorBody(form.elements.factor.value));
    const res = await api('/api/v1/me/mfa/totp', jsonInit('DELETE', body));
    if (res.status !== 204) return say(await problemText(res), 'error');
    form.reset();
    codes.hidden = true;
    say('Two-step sign-in is off.', 'ok');
    await loadFactors();
  });

  async function loadPasskeys() {
    const res = await api('/api/v1/me/passkeys');
    if (!res.ok) return;
    const items = await res.json();
    passkeyList.replaceChildren(...(items.length ? items.map(renderPasskey) : [el('li', { className: 'muted' }, 'No passkeys yet.')]));
  }

  function renderPasskey(passkey) {
    const path = '/api/v1/me/passkeys/' + encodeURIComponent(passkey.id);
    const rename = el('button', { type: 'button', className: 'link' }, 'Rename');
    const remove = el('button', { type: 'button', className: 'link danger' }, 'Remove');
    const item = el(
      'li',
      { className: 'row passkey' },
      el('div', {}, el('strong', { className: 'name' }, passkey.name), ' ', el('span', { className: 'muted used' }, passkey.last_used_at ? '(last used ' + new Date(passkey.last_used_at).toLocaleString() + ')' : '(not used yet)')),
      el('div', { className: 'row-actions' }, rename, remove)
    );
    rename.setAttribute('aria-label', 'Rename the passkey ' + passkey.name);
    remove.setAttribute('aria-label', 'Remove the passkey ' + passkey.name);
    // Renaming edits the name in place: a labelled field with Save and Cancel, Escape cancels, and
    // focus goes to the field and back to the Rename button (prompt() would block the page and
    // cannot be styled or labelled).
    rename.addEventListener('click', () => {
      const input = el('input', { name: 'name', value: passkey.name, maxLength: 64, required: true, autocomplete: 'off' });
      input.setAttribute('aria-label', 'New name for the passkey ' + passkey.name);
      const cancel = el('button', { type: 'button', className: 'link' }, 'Cancel');
      const form = el('form', { className: 'passkey-rename' }, input, el('button', { type: 'submit' }, 'Save'), cancel);
      const shown = [...item.children];
      const restore = () => {
        form.replaceWith(...shown);
        rename.focus();
      };
      cancel.addEventListener('click', restore);
      form.addEventListener('keydown', (event) => {
        if (event.key === 'Escape') restore();
      });
      onSubmit(form, async () => {
        const name = input.value.trim();
        const res = await api(path, jsonInit('PATCH', { name }));
        if (!res.ok) return failed(form, res);
        say('The passkey is renamed.', 'ok');
        await loadPasskeys();
        [...passkeyList.querySelectorAll('button')].find((b) => b.getAttribute('aria-label') === 'Rename the passkey ' + name)?.focus();
      });
      shown.forEach((node) => node.remove());
      item.append(form);
      input.select();
      input.focus();
    });
    remove.addEventListener('click', async () => {
      if (!(await confirmDialog('Remove the passkey “' + passkey.name + '”?', 'Remove', true))) return;
      const res = await sensitive(path, { method: 'DELETE' });
      if (res.status !== 204) return say(await problemText(res), 'error');
      say('The passkey is removed.', 'ok');
      await loadPasskeys();
    });
    return item;
  }

  onSubmit(addForm, async (form) => {
    const res = await sensitive('/api/v1/me/passkeys/options', { method: 'POST' });
    if (!res.ok) return say(await problemText(res), 'error');
    const started = await res.json();
    const credential = await ceremony('create', started.options);
    if (!credential) return;
    const done = await api('/api/v1/me/passkeys', jsonInit('POST', { ceremony: started.ceremony, name: form.elements.name.value, credential }));
    if (done.status !== 201) return say(await problemText(done), 'error');
    form.reset();
    say('The passkey is added. You can sign in with it now.', 'ok');
    await loadPasskeys();
  });

  loadFactors().catch(() => say(UNREACHABLE, 'error'));
  loadPasskeys().catch(() => {});
}
