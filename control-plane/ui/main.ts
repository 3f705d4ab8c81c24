/// <reference lib="dom" />
// The dashboard's entry: find the token (the URL's `#token=` fragment, else this tab's
// sessionStorage, else the login form), check it against the API, learn whether it is the
// admin's, and draw the lab. The fragment is removed from the address bar at once, so the token
// is not left on a projected screen; it never reaches the server in a request line anyway.
import { html } from 'htm/preact';
import { render } from 'preact';
import { Api, ApiRequestError } from './api.ts';
import { App, type Role } from './view-app.ts';
import { Login } from './view-login.ts';

const storageKey = 'labkube.token';
const root = document.getElementById('root')!;

function tokenFromFragment(): string | undefined {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? undefined;
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return token || undefined;
}

/** The admin may reach /metrics; anyone else gets 403. A cheap way to know which buttons to draw. */
async function roleOf(api: Api): Promise<Role> {
  const res = await fetch('/metrics', { method: 'HEAD', headers: { authorization: `Bearer ${api.token}` } });
  return res.ok ? 'admin' : 'viewer';
}

/**
 * One read the token is allowed: a 401 or 403 is an answer; a network error (the control plane
 * restarting, Wi-Fi changing) is retried a few times before the login form says so.
 */
async function checkToken(api: Api): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await api.get('/api/v1/namespaces/default');
      return;
    } catch (err) {
      if (err instanceof ApiRequestError || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, attempt * 500));
    }
  }
}

function showLogin(error?: string): void {
  sessionStorage.removeItem(storageKey);
  render(html`<${Login} error=${error} onToken=${(t: string) => void start(t)} />`, root);
}

async function start(token: string): Promise<void> {
  const api = new Api(token);
  // Both reads at once. (The lists wait for them: started beside them, they and their watches
  // would take all six of the browser's connections to the server and keep the check waiting.)
  const role = roleOf(api).catch((): Role => 'viewer');
  try {
    await checkToken(api);
  } catch (err) {
    const why = err instanceof ApiRequestError && err.code === 401 ? 'The server refused this token (401 Unauthorized). Check it and sign in again.'
      : err instanceof ApiRequestError && err.code === 403 ? `This token may not read the cluster (403): ${err.message}`
        : `Could not reach the control plane: ${err instanceof Error ? err.message : String(err)}`;
    showLogin(why);
    return;
  }
  sessionStorage.setItem(storageKey, token);
  render(html`<${App} api=${api} role=${await role} onSignOut=${() => showLogin()} onRefused=${showLogin} />`, root);
}

root.textContent = ''; // the "Loading…" placeholder: render adds beside what is there
const token = tokenFromFragment() ?? sessionStorage.getItem(storageKey) ?? undefined;
if (token) void start(token); else showLogin();
