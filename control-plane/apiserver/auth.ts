// Authentication by bearer token and authorization by role.
//  - The admin token (DATA_DIR/admin-token) may do anything.
//  - The join token (DATA_DIR/join-token) may only join: POST /labkube/v1/join trades it for a
//    node credential, as a kubelet trades a bootstrap token for its own certificate. It reads
//    nothing else: not discovery, not /openapi, not /metrics.
//  - A node credential may do what Kubernetes' Node authorizer and NodeRestriction admission
//    plugin let a kubelet do. Anything else is 403.
//  - The viewer token (DATA_DIR/viewer-token), for the dashboard on a projector or a student's
//    laptop, may get, list and watch every resource and read pods/log, and nothing else: no
//    write, no join, no /metrics, no Secret once labkube has them. The page hides the admin's
//    buttons, but this authorizer is what refuses a viewer's write.
//
// Joining (app.ts, the join route), against takeover:
//  - A name whose Node exists and which holds a credential is taken: the join token gets 409.
//    Only the node itself or the admin (a reset) may issue a new credential for it. The node
//    proves itself with its current credential: as the request's bearer token, or as
//    `currentToken` in the body beside the join token (what the agent sends). That is a rotation.
//  - Deleting a Node drops its credential (watched here, so every way of deleting counts). That
//    is how an admin lets a reinstalled board that lost its credential join again:
//    `kubectl delete node NAME`. The running agent of a deleted Node gets 401 and rejoins.
//  - A credential without a Node (joined, never registered) may be replaced by a join: an agent
//    that crashed between joining and saving its credential is not locked out forever.
//
// What a node may do, and why (NodeRestriction, plugin/pkg/admission/noderestriction, is the
// reference):
//  - Read (get, list, watch) nodes, pods, services, endpoints, endpointslices, namespaces and
//    leases, cluster-wide. The agent's service proxy and DNS need every Service and
//    EndpointSlice. Pods are readable cluster-wide as Kubernetes allowed until 1.31; since 1.32
//    (AuthorizeNodeWithSelectors) Kubernetes limits a node's pod list and watch to
//    `spec.nodeName=<itself>`, a tightening labkube can adopt once nothing else needs them.
//    Events are not readable (a kubelet only writes them); pods/log is the admin's only.
//  - Write its own Node (and nodes/status), and delete it: Kubernetes allows a kubelet to delete
//    its own Node (kubernetes#62818 forbade it and was reverted), and here that also drops the
//    node's credential, so it can only hurt itself. On its Node it may not set or change labels
//    under node-restriction.kubernetes.io/, nor kubernetes.io/ or k8s.io/ labels outside the
//    kubelet's set (hostname, os, arch, instance-type, zone and region, and the
//    kubelet.kubernetes.io/ and node.kubernetes.io/ namespaces), so node-role.kubernetes.io/*
//    is the admin's to give; nor change its taints after creating the Node, nor its
//    ownerReferences (CVE-2025-5187: a node deleting itself through garbage collection).
//  - Write its own Lease, only in kube-node-lease.
//  - Update the status of pods bound to it and delete them (the final deletion after a stop).
//  - Create, update and patch Events that it reports as itself (source.host or
//    reportingInstance is its name) about itself: its own Node (in "default", where the kubelet
//    puts node events) or a pod bound to it, in that pod's namespace. Kubernetes lets a kubelet
//    write any Event; a lab board posing as the node controller in another team's namespace is a
//    needless risk, and the agent never needs it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, UnauthorizedError } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import type { Store, Unsubscribe } from '../store/types.ts';
import type { RequestInfo } from './request-info.ts';

export type User =
  | { kind: 'admin'; name: 'admin' }
  | { kind: 'joiner'; name: 'system:bootstrap' }
  | { kind: 'viewer'; name: 'labkube:viewer' }
  | { kind: 'node'; name: string; nodeName: string };

const credentialPrefix = '/labkube.io/nodecredentials/';
const nodePrefix = '/nodes/';
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
  private readonly stopWatching: Unsubscribe;
  private viewerToken?: string;

  constructor(private readonly store: Store, private readonly adminToken: string, private readonly joinToken: string) {
    for (const cred of store.list(credentialPrefix).items) {
      this.nodeTokens.set(String(cred.tokenHash), cred.metadata.name!);
    }
    this.stopWatching = store.watch(nodePrefix, undefined, (e) => {
      if (e.type === 'DELETED') this.revoke(e.object.metadata.name!);
    });
  }

  authenticate(authorization: string | undefined): User {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) throw new UnauthorizedError();
    const token = m[1]!;
    if (sameSecret(token, this.adminToken)) return { kind: 'admin', name: 'admin' };
    if (sameSecret(token, this.joinToken)) return { kind: 'joiner', name: 'system:bootstrap' };
    if (this.viewerToken !== undefined && sameSecret(token, this.viewerToken)) return { kind: 'viewer', name: 'labkube:viewer' };
    const nodeName = this.nodeTokens.get(sha256(token));
    if (nodeName) return { kind: 'node', name: `system:node:${nodeName}`, nodeName };
    throw new UnauthorizedError();
  }

  /** Accepts `token` as the read-only viewer's (server.ts passes DATA_DIR/viewer-token). */
  setViewerToken(token: string): void { this.viewerToken = token; }

  hasCredential(nodeName: string): boolean {
    return this.store.get(credentialPrefix + nodeName) !== undefined;
  }

  /** Whether `token` is the current credential of `nodeName`. */
  isCredentialOf(nodeName: string, token: string): boolean {
    return this.nodeTokens.get(sha256(token)) === nodeName;
  }

  /** Issues a node credential, replacing (and so revoking) any earlier one for the same node. */
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

  /** Drops a node's credential: its agent gets 401 from now on and must join again. */
  revoke(nodeName: string): void {
    const key = credentialPrefix + nodeName;
    const old = this.store.get(key);
    if (!old) return;
    this.nodeTokens.delete(String(old.tokenHash));
    this.store.delete(key);
  }

  close(): void { this.stopWatching(); }
}

/**
 * Routes anyone may reach without a token: the probes, the version, and the dashboard's static
 * files (control-plane/apiserver/ui.ts). The page holds no data; it asks for a token and sends it
 * to the API like any client.
 */
export const publicRoutes: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/livez', '/version', '/ui', '/ui/', '/ui/:asset']);

const joinRoute = '/labkube/v1/join';
/** Routes that answer from their own checks: the resource API (authorize below), pod logs (admin only). */
const adminOnlyRoutes = new Set(['/metrics']);

/**
 * Decides by the matched route (undefined: no route, a 404 to come) before the body is read:
 * the join token reaches only the join route, and /metrics is the admin's (Kubernetes grants
 * it to system:monitoring, not to nodes). Discovery and /openapi are open to nodes, as
 * system:discovery is to every authenticated user but the join token.
 */
export function authorizeRoute(user: User, route: string | undefined): void {
  if (user.kind === 'admin') return;
  const path = route ?? 'this path';
  if (user.kind === 'viewer' && route === joinRoute) throw new ForbiddenError(`forbidden: User "${user.name}" cannot access ${path}: the viewer token only reads`);
  if (route === joinRoute) return;
  if (user.kind === 'joiner') throw new ForbiddenError(`forbidden: User "${user.name}" cannot access ${path}: the join token may only join`);
  if (route !== undefined && adminOnlyRoutes.has(route)) throw new ForbiddenError(`forbidden: User "${user.name}" cannot get path "${route}"`);
}

const readVerbs = new Set(['get', 'list', 'watch']);
/** group/resource a node may read cluster-wide. */
const nodeReadable = new Set(['/nodes', '/pods', '/services', '/endpoints', '/namespaces',
  'discovery.k8s.io/endpointslices', 'coordination.k8s.io/leases']);
/** What the viewer may not even read: a dashboard link on a projector must not show a secret. */
const viewerHidden = new Set(['/secrets']);
const nodeLeaseNamespace = 'kube-node-lease';
/** The namespace a kubelet puts its Node's Events in (an Event about a cluster-scoped object). */
const nodeEventNamespace = 'default';

function forbidden(user: User, info: RequestInfo, why?: string): ForbiddenError {
  const where = info.namespace ? ` in the namespace "${info.namespace}"` : ' at the cluster scope';
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  // A name from the path is the client's text: cut it short rather than echo 10,000 characters.
  const name = info.name && info.name.length > 64 ? `${info.name.slice(0, 64)}…` : info.name;
  return new ForbiddenError(`${info.resource}${name ? ` "${name}"` : ''} is forbidden: User "${user.name}" cannot ${info.verb} resource "${resource}" in API group "${info.group}"${where}${why ? `: ${why}` : ''}`);
}

/**
 * Decides from the request line alone (verb, resource, namespace, name) whether `user` may make
 * the request, before its body is read. Requests whose answer depends on the object (a node's
 * create, an Event) pass here and are decided by `admit`. `current` loads the object the path
 * names, for checks that depend on it (which node a pod is bound to).
 */
export function authorize(user: User, info: RequestInfo, current: () => KubeObject | undefined): void {
  if (user.kind === 'admin') return;
  if (user.kind === 'joiner') throw forbidden(user, info);
  if (user.kind === 'viewer') {
    if (readVerbs.has(info.verb) && !viewerHidden.has(`${info.group}/${info.resource}`)) return;
    throw forbidden(user, info, 'the viewer token only reads');
  }
  const node = user.nodeName;
  const groupResource = `${info.group}/${info.resource}`;
  if (readVerbs.has(info.verb)) {
    if (nodeReadable.has(groupResource) && (info.subresource === undefined || info.subresource === 'status')) return;
    throw forbidden(user, info);
  }
  switch (groupResource) {
    case '/nodes':
      if (info.verb === 'create' && !info.subresource) return; // the name is in the body: admit
      if (info.name === node && ['update', 'patch', 'delete'].includes(info.verb) && (!info.subresource || info.subresource === 'status')) return;
      break;
    case 'coordination.k8s.io/leases':
      if (info.namespace !== nodeLeaseNamespace) break;
      if (info.verb === 'create' || (info.name === node && ['update', 'patch', 'delete'].includes(info.verb))) return;
      break;
    case '/pods': {
      const boundHere = () => (current()?.spec as { nodeName?: string } | undefined)?.nodeName === node;
      if (info.subresource === 'status' && (info.verb === 'update' || info.verb === 'patch') && boundHere()) return;
      if (info.verb === 'delete' && !info.subresource && boundHere()) return;
      break;
    }
    case '/events':
      if (['create', 'update', 'patch'].includes(info.verb)) return; // admit checks what it says
      break;
  }
  throw forbidden(user, info);
}

/** pods/log: the admin's and the viewer's (the dashboard's log panel); not a node's or the join token's. */
export function authorizePodLog(user: User | undefined, namespace: string, name: string): void {
  if (user?.kind === 'admin' || user?.kind === 'viewer') return;
  throw new ForbiddenError(`pods "${name}" is forbidden: User "${user?.name}" cannot get resource "pods/log" in API group "" in the namespace "${namespace}"`);
}

/** Whether the request writes an object whose content `admit` must see (for a patch: its result). */
export function needsAdmission(user: User, info: RequestInfo): boolean {
  if (user.kind !== 'node' || !['create', 'update', 'patch'].includes(info.verb)) return false;
  if (info.resource === 'events' && info.group === '') return true;
  if (info.subresource) return false; // a status write changes neither labels, taints nor owners
  if (info.group === 'coordination.k8s.io' && info.resource === 'leases') return info.verb === 'create'; // else the path named it
  return info.group === '' && info.resource === 'nodes';
}

export interface Admission {
  /** The object as it will be stored (the body of a create or update, a patch's result). */
  object: unknown;
  /** The stored object before the write (update and patch). */
  old?: KubeObject;
  /** Loads a stored pod, for Events about pods. */
  pod(namespace: string, name: string): KubeObject | undefined;
}

/** NodeRestriction: what a node may write, judged on the object it would store. */
export function admit(user: User, info: RequestInfo, a: Admission): void {
  if (user.kind !== 'node') return;
  const node = user.nodeName;
  const obj = asRecord(a.object);
  const meta = asRecord(obj.metadata);
  const deny = (why: string) => forbidden(user, info, why);
  if (info.resource === 'leases') {
    if (meta.name !== node) throw deny('a node may only write its own Lease');
    return;
  }
  if (info.resource === 'nodes') {
    if (info.verb === 'create' && meta.name !== node) throw deny(`node "${node}" may only create its own Node`);
    const oldMeta = asRecord(a.old?.metadata);
    const forbiddenLabels = modifiedLabels(asRecord(meta.labels), asRecord(oldMeta.labels)).filter(isRestrictedNodeLabel);
    if (forbiddenLabels.length > 0) throw deny(`node "${node}" is not allowed to set or change the labels ${forbiddenLabels.join(', ')}`);
    if (!sameJson(meta.ownerReferences ?? [], oldMeta.ownerReferences ?? [])) throw deny(`node "${node}" is not allowed to set ownerReferences on its Node`);
    if (a.old && !sameJson(asRecord(obj.spec).taints ?? [], asRecord(a.old.spec).taints ?? [])) throw deny(`node "${node}" is not allowed to modify taints`);
    return;
  }
  // Events.
  const reportsAsSelf = (event: Record<string, unknown>) => {
    const host = asRecord(event.source).host;
    const instance = event.reportingInstance;
    return (host === node || instance === node) && (host === undefined || host === node) &&
      (instance === undefined || instance === '' || instance === node);
  };
  if (a.old && !reportsAsSelf(a.old as unknown as Record<string, unknown>)) throw deny(`node "${node}" may only change Events it reported`);
  if (!reportsAsSelf(obj)) throw deny(`node "${node}" may only write Events whose source.host or reportingInstance is "${node}"`);
  const about = asRecord(obj.involvedObject);
  const namespace = info.namespace ?? '';
  if (about.kind === 'Node' && about.name === node && namespace === nodeEventNamespace) return;
  if (about.kind === 'Pod' && typeof about.name === 'string' && (about.namespace === undefined || about.namespace === namespace)) {
    const pod = a.pod(namespace, about.name);
    if ((pod?.spec as { nodeName?: string } | undefined)?.nodeName === node) return;
  }
  throw deny(`node "${node}" may only write Events about itself or about pods bound to it`);
}

function asRecord(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Label keys added, removed or changed between two label maps. */
function modifiedLabels(now: Record<string, unknown>, before: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(now), ...Object.keys(before)]);
  return [...keys].filter((k) => !Object.hasOwn(now, k) || !Object.hasOwn(before, k) || now[k] !== before[k]).sort();
}

// Kubernetes' kubelet label set (k8s.io/kubelet/pkg/apis/well_known_labels.go).
const kubeletLabels = new Set([
  'kubernetes.io/hostname', 'topology.kubernetes.io/zone', 'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/region',
  'beta.kubernetes.io/instance-type', 'node.kubernetes.io/instance-type',
  'kubernetes.io/os', 'kubernetes.io/arch', 'beta.kubernetes.io/os', 'beta.kubernetes.io/arch',
]);
const kubeletLabelNamespaces = ['kubelet.kubernetes.io', 'node.kubernetes.io'];

const labelNamespace = (key: string) => (key.includes('/') ? key.slice(0, key.indexOf('/')) : '');
const inNamespace = (ns: string, of: string) => ns === of || ns.endsWith(`.${of}`);

/** NodeRestriction's getForbiddenLabels: labels a node may not add, remove or change on itself. */
export function isRestrictedNodeLabel(key: string): boolean {
  const ns = labelNamespace(key);
  if (inNamespace(ns, 'node-restriction.kubernetes.io')) return true;
  const kubernetes = inNamespace(ns, 'kubernetes.io') || inNamespace(ns, 'k8s.io');
  const kubelet = kubeletLabels.has(key) || kubeletLabelNamespaces.some((allowed) => inNamespace(ns, allowed));
  return kubernetes && !kubelet;
}
