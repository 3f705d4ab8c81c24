// Finds and reads a kubeconfig the way kubectl does: `--kubeconfig`, then $KUBECONFIG (the first
// file in the list that exists), then the one `labkube server` wrote in its default data dir.
// Supports what labkube writes and what a hand-made kubeconfig usually holds: a bearer token,
// the CA inline or as a file, insecure-skip-tls-verify, and the context's namespace.
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, resolve } from 'node:path';
import { parse } from 'yaml';

/** `labkube server`'s default --data-dir is ./.labkube. */
export const defaultKubeconfigPath = './.labkube/kubeconfig';

export interface ClusterAccess {
  path: string;
  server: string;
  token: string;
  ca?: string;
  insecureSkipTlsVerify: boolean;
  namespace: string;
}

export class KubeconfigError extends Error {}

interface NamedEntry<T> { name: string; [key: string]: unknown; cluster?: T; user?: T; context?: T }
interface Kubeconfig {
  clusters?: NamedEntry<{ server?: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean }>[];
  users?: NamedEntry<{ token?: string; tokenFile?: string }>[];
  contexts?: NamedEntry<{ cluster?: string; user?: string; namespace?: string }>[];
  'current-context'?: string;
}

export function kubeconfigPath(flag: string | undefined, env = process.env): string {
  if (flag) return flag;
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (fromEnv.length > 0) return fromEnv.find((p) => existsSync(p)) ?? fromEnv[0]!;
  return defaultKubeconfigPath;
}

export function loadKubeconfig(path: string, contextName?: string): ClusterAccess {
  if (!existsSync(path)) {
    throw new KubeconfigError(`no kubeconfig at ${path}: start the control plane with \`labkube server\`, or pass --kubeconfig or set KUBECONFIG`);
  }
  let config: Kubeconfig;
  try {
    config = (parse(readFileSync(path, 'utf8')) ?? {}) as Kubeconfig;
  } catch (err) {
    throw new KubeconfigError(`cannot read the kubeconfig ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const name = contextName ?? config['current-context'];
  const context = config.contexts?.find((c) => c.name === name)?.context;
  if (!context) throw new KubeconfigError(`the kubeconfig ${path} has no context${name ? ` named "${name}"` : ''}`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster?.server) throw new KubeconfigError(`the kubeconfig ${path} has no server for cluster "${context.cluster ?? ''}"`);
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
  const relative = (p: string) => resolve(dirname(path), p);
  const token = user.token ?? (user.tokenFile ? readFileSync(relative(user.tokenFile), 'utf8').trim() : '');
  const ca = cluster['certificate-authority-data'] ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString()
    : cluster['certificate-authority'] ? readFileSync(relative(cluster['certificate-authority']), 'utf8') : undefined;
  return {
    path, server: cluster.server, token, ...(ca && { ca }),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    namespace: context.namespace || 'default',
  };
}
