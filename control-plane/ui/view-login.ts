/// <reference lib="dom" />
// The login form, shown when there is no token or the server refused it.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

export function Login({ error, onToken }: { error?: string; onToken: (token: string) => void }) {
  const [token, setToken] = useState('');
  const submit = (e: Event) => { e.preventDefault(); if (token.trim()) onToken(token.trim()); };
  return html`<main class="login">
    <h1>labkube</h1>
    <p>Sign in with the viewer token (read-only, <code>DATA_DIR/viewer-token</code>) or the admin token.</p>
    ${error && html`<p class="error" role="alert" data-role="login-error"><span aria-hidden="true">⚠</span> ${error}</p>`}
    <form onSubmit=${submit}>
      <label>Token <input type="password" autocomplete="off" value=${token} onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} /></label>
      <button type="submit">Sign in</button>
    </form>
  </main>`;
}
