// First-start setup of a data directory: the admin and join tokens (mode 0600) and a kubeconfig
// that both labctl and stock kubectl can use as it is. Later starts reuse what is there.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { newToken } from './auth.ts';

export interface DataDir { adminToken: string; joinToken: string; kubeconfigPath: string; databasePath: string }

function tokenFile(path: string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const token = newToken();
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
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
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const adminToken = tokenFile(join(dir, 'admin-token'));
  const joinToken = tokenFile(join(dir, 'join-token'));
  return { adminToken, joinToken, kubeconfigPath: join(dir, 'kubeconfig'), databasePath: join(dir, 'state.db') };
}

/** Rewritten each start: the address may have changed; the token and CA have not. */
export function writeKubeconfig(data: DataDir, serverUrl: string, caPem: string): void {
  writeFileSync(data.kubeconfigPath, kubeconfig(serverUrl, data.adminToken, caPem), { mode: 0o600 });
}
