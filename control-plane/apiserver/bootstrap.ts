// First-start setup of a data directory: the admin, join and viewer tokens (mode 0600) and a
// kubeconfig that both labctl and stock kubectl can use as it is. Later starts reuse what is there.
// The viewer token only reads (auth.ts): it is the one to put in the dashboard link on a projector.
//
// Modes are set at every start, not only at creation: the directory holds the store (every
// object and the node credentials' hashes), the tokens and the CA key, so it is 0700 and the
// secrets 0600 even when an older version, a backup restore or a hand-made directory left them
// readable by others. (The store's own files are tightened where it opens them: store/sqlite.ts.)
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { newToken } from './auth.ts';

export interface DataDir { adminToken: string; joinToken: string; viewerToken: string; kubeconfigPath: string; databasePath: string }

/** Owner-only access for a file that holds a secret. */
export const privateFileMode = 0o600;
export const privateDirMode = 0o700;

function tokenFile(path: string): string {
  if (existsSync(path)) {
    chmodSync(path, privateFileMode);
    return readFileSync(path, 'utf8').trim();
  }
  const token = newToken();
  writeFileSync(path, `${token}\n`, { mode: privateFileMode });
  return token;
}

export function kubeconfig(serverUrl: string, token: string, caPem?: string): string {
  const cluster = { server: serverUrl, ...(caPem && { 'certificate-authority-data': Buffer.from(caPem).toString('base64') }) };
  return stringify({
    apiVersion: 'v1', kind: 'Config', preferences: {},
    clusters: [{ name: 'labkube', cluster }],
    users: [{ name: 'labkube-admin', user: { token } }],
    contexts: [{ name: 'labkube', context: { cluster: 'labkube', user: 'labkube-admin', namespace: 'default' } }],
    'current-context': 'labkube',
  });
}

export function prepareDataDir(dir: string): DataDir {
  mkdirSync(dir, { recursive: true, mode: privateDirMode });
  chmodSync(dir, privateDirMode);
  const adminToken = tokenFile(join(dir, 'admin-token'));
  const joinToken = tokenFile(join(dir, 'join-token'));
  const viewerToken = tokenFile(join(dir, 'viewer-token'));
  return { adminToken, joinToken, viewerToken, kubeconfigPath: join(dir, 'kubeconfig'), databasePath: join(dir, 'state.db') };
}

/** Rewritten each start: the address may have changed; the token and CA have not. */
export function writeKubeconfig(data: DataDir, serverUrl: string, caPem: string): void {
  writeFileSync(data.kubeconfigPath, kubeconfig(serverUrl, data.adminToken, caPem), { mode: privateFileMode });
  chmodSync(data.kubeconfigPath, privateFileMode); // the mode above applies only to a new file
}
