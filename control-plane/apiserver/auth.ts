// Authentication by bearer token and authorization by role.
//  - The admin token (DATA_DIR/admin-token) may do anything.
//  - The join token (DATA_DIR/join-token) may only join: POST /labkube/v1/join trades it for a
//    node credential, as a kubelet trades a bootstrap token for its own certificate.
//  - A node credential may do what Kubernetes' node authorizer lets a kubelet do: read what a
//    kubelet reads, write its own Node and Lease, the status of pods bound to it, their final
//    deletion, and Events. Anything else is 403.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, UnauthorizedError } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import type { Store } from '../store/types.ts';
import type { RequestInfo } from './request-info.ts';

export type User =
  | { kind: 'admin'; name: 'admin' }
  | { kind: 'joiner'; name: 'system:bootstrap' }
  | { kind: 'node'; name: string; nodeName: string };

const credentialPrefix = '/labkube.io/nodecredentials/';
const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function newToken(): string {
  return randomBytes(32).toString('hex');
}

export class Authenticator {
  /** token hash -> node name, loaded from the store once and kept in step with joins. */
  private readonly nodeTokens = new Map<string, string>();

  constructor(private readonly store: Store, private readonly adminToken: string, private readonly joinToken: string) {
    for (const cred of store.list(credentialPrefix).items) {
      this.nodeTokens.set(String(cred.tokenHash), cred.metadata.name!);
    }
  }

  authenticate(authorization: string | undefined): User {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) throw new UnauthorizedError();
    const token = m[1]!;
    if (sameSecret(token, this.adminToken)) return { kind: 'admin', name: 'admin' };
    if (sameSecret(token, this.joinToken)) return { kind: 'joiner', name: 'system:bootstrap' };
    const nodeName = this.nodeTokens.get(sha256(token));
    if (nodeName) return { kind: 'node', name: `system:node:${nodeName}`, nodeName };
    throw new UnauthorizedError();
  }

  /** Issues a node credential, replacing any earlier one for the same node (a re-installed board). */
  issueNodeToken(nodeName: string): string {
    const token = newToken();
    const key = credentialPrefix + nodeName;
    const cred: KubeObject = { apiVersion: 'labkube.io/v1', kind: 'NodeCredential', metadata: { name: nodeName }, tokenHash: sha256(token) };
    const old = this.store.get(key);
    if (old) {
      this.nodeTokens.delete(String(old.tokenHash));
      this.store.update(key, cred);
    } else {
      this.store.create(key, cred);
    }
    this.nodeTokens.set(String(cred.tokenHash), nodeName);
    return token;
  }
}

const readVerbs = new Set(['get', 'list', 'watch']);
const nodeReadable = new Set(['nodes', 'pods', 'services', 'endpoints', 'namespaces', 'leases', 'events']);

/**
 * Decides whether `user` may make the request. `current` loads the object the request names
 * (for checks that depend on it, such as which node a pod is bound to).
 */
export function authorize(user: User, info: RequestInfo, body: unknown, current: () => KubeObject | undefined): void {
  if (user.kind === 'admin') return;
  const deny = () => {
    const where = info.namespace ? ` in the namespace "${info.namespace}"` : ' at the cluster scope';
    const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
    return new ForbiddenError(`${info.resource}${info.name ? ` "${info.name}"` : ''} is forbidden: User "${user.name}" cannot ${info.verb} resource "${resource}" in API group "${info.group}"${where}`);
  };
  if (user.kind === 'joiner') throw deny();
  const node = user.nodeName;
  if (readVerbs.has(info.verb) && nodeReadable.has(info.resource) && info.subresource !== 'log') return;
  switch (info.resource) {
    case 'nodes': {
      const name = info.name ?? (body as KubeObject | undefined)?.metadata?.name;
      if (name === node && info.verb !== 'deletecollection') return;
      break;
    }
    case 'leases': {
      const name = info.name ?? (body as KubeObject | undefined)?.metadata?.name;
      if (info.namespace === 'kube-node-lease' && name === node) return;
      break;
    }
    case 'pods': {
      const boundHere = () => (current()?.spec as { nodeName?: string } | undefined)?.nodeName === node;
      if (info.subresource === 'status' && (info.verb === 'update' || info.verb === 'patch') && boundHere()) return;
      if (info.verb === 'delete' && !info.subresource && boundHere()) return;
      break;
    }
    case 'events':
      if (info.verb === 'create' || info.verb === 'update' || info.verb === 'patch') return;
      break;
  }
  throw deny();
}
