/// <reference lib="dom" />
// The dashboard's entry: find the token (the URL's `#token=` fragment, else this tab's
// sessionStorage, else the login form), learn whether it is the admin's (a refused one goes
// back to the login form), and draw the lab. The fragment is removed from the address bar at once, so the token
// is not left on a projected screen; it never reaches the server in a request line anyway.
import { html } from 'htm/preact';
import { render } from 'preact';
import { Api, ApiRequestError } from './api.ts';
import { Cluster } from './cluster.ts';
import { App, type Role } from './view-app.ts';
import { Login } from './view-login.ts';

const storageKey = 'labkube.token';
const root = document.getElementById('root')!;

function tokenFromFragment(): string | undefined {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? undefined;
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return token || undefined;
}

/**
 * Who the token is, in one read: /metrics answers the admin (200), anyone else the API knows
 * (403: the viewer), and refuses a bad token (401). A network error (the control plane
 * restarting, Wi-Fi changing) is retried a few times before the login form says so.
 */
async function roleOf(api: Api): Promise<Role> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch('/metrics', { method: 'HEAD', headers: { authorization: `Bearer ${api.token}` } });
      if (res.ok) return 'admin';
      if (res.status === 403) return 'viewer';
      throw new ApiRequestError(res.status, `HTTP ${res.status}`);
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
  // The lists start at once, beside the read that says who this is: the first picture waits on
  // both, so neither waits on the other. (Five lists and that read are six requests, the
  // browser's limit per server over HTTP/1.1: one more, and one of them would queue.)
  const cluster = new Cluster(api).start();
  let role: Role;
  try {
    role = await roleOf(api);
  } catch (err) {
    cluster.stop();
    showLogin(err instanceof ApiRequestError && err.code === 401 ? 'The server refused this token (401 Unauthorized). Check it and sign in again.'
      : `Could not reach the control plane: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  sessionStorage.setItem(storageKey, token);
  render(html`<${App} api=${api} cluster=${cluster} role=${role} onSignOut=${() => showLogin()} onRefused=${showLogin} />`, root);
}

performance.mark('labkube:script-start'); // the bench's account: how long before the page's script ran
root.textContent = ''; // the "Loading…" placeholder: render adds beside what is there
const token = tokenFromFragment() ?? sessionStorage.getItem(storageKey) ?? undefined;
if (token) void start(token); else showLogin();
