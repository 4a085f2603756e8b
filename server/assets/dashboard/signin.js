// The sign-in page: paste a token (from `chorus token` or your identity provider). The usual
// way in is the one-time link that `chorus serve` prints, which needs no pasting.

import { h } from './dom.js';

export function renderSignIn(main, { message, onToken }) {
  const field = h('textarea', {
    id: 'token-input', name: 'token', required: true, autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'token-help',
  });
  const form = h('form', {
    class: 'signin', id: 'signin',
    onsubmit: (e) => {
      e.preventDefault();
      const value = field.value.trim().replace(/^Bearer\s+/i, '');
      if (value) onToken(value);
    },
  },
  h('h1', {}, 'Sign in to Chorus'),
  message ? h('p', { class: 'error', id: 'signin-message', role: 'alert' }, message) : null,
  h('p', { id: 'token-help' },
    'Open the sign-in link that ', h('code', {}, 'chorus serve'), ' printed, or paste an access token: ',
    'one from ', h('code', {}, 'chorus token'), ' or from your identity provider.'),
  h('label', { for: 'token-input' }, 'Access token'),
  field,
  h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  main.replaceChildren(form);
  field.focus();
}
