// "What may I do, and who am I?": SelfSubjectAccessReview (`kubectl auth can-i`) and
// SelfSubjectReview (`kubectl auth whoami`). Both answer with what labkube's own authorizer
// (auth.ts) decides for the caller, by asking it the same question a real request would: there is
// no second copy of the rules here to drift from the first.
//
// Like Kubernetes, neither is stored: a create answers with the review and its status (201).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError, ForbiddenError } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { resourceFor } from '../api/resources.ts';
import { authorize, authorizePodLog, authorizeRoute, type User } from './auth.ts';
import { parseBody } from './body.ts';
import { decodeKubeProtobuf } from './kube-protobuf.ts';
import { keyFor } from './registry.ts';
import type { Verb } from './request-info.ts';

interface ResourceAttributes { namespace?: string; verb?: string; group?: string; version?: string; resource?: string; subresource?: string; name?: string }
interface NonResourceAttributes { path?: string; verb?: string }
interface AccessReview { apiVersion?: string; kind?: string; metadata?: Record<string, unknown>; spec?: { resourceAttributes?: ResourceAttributes; nonResourceAttributes?: NonResourceAttributes } }

const requestVerbs = new Set<string>(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']);
/** Subresources only the admin reaches: the streams and the proxy (Kubernetes gives them to no kubelet either). */
const adminSubresources = new Set(['exec', 'attach', 'portforward', 'proxy', 'eviction']);

/** The names and groups Kubernetes would report for each kind of caller. */
export function userInfo(user: User): { username: string; groups: string[] } {
  switch (user.kind) {
    case 'admin': return { username: 'admin', groups: ['system:masters', 'system:authenticated'] };
    case 'viewer': return { username: user.name, groups: ['labkube:viewers', 'system:authenticated'] };
    case 'node': return { username: user.name, groups: ['system:nodes', 'system:authenticated'] };
    case 'joiner': return { username: user.name, groups: ['system:bootstrappers'] };
  }
}

/** Asks the authorizer; its ForbiddenError becomes the review's denial reason. */
function decide(check: () => void): { allowed: boolean; reason?: string } {
  try {
    check();
    return { allowed: true };
  } catch (err) {
    if (err instanceof ForbiddenError) return { allowed: false, reason: err.message };
    throw err;
  }
}

export function reviewAccess(app: FastifyInstance, user: User, review: AccessReview): { allowed: boolean; denied?: boolean; reason?: string } {
  const { resourceAttributes: ra, nonResourceAttributes: nra } = review.spec ?? {};
  if (!ra === !nra) throw new BadRequestError('spec: exactly one of resourceAttributes and nonResourceAttributes must be set');
  if (nra) {
    if (typeof nra.path !== 'string' || !nra.path.startsWith('/')) throw new BadRequestError('spec.nonResourceAttributes.path must be a path starting with /');
    // Non-resource paths are only ever read (discovery, /version, /metrics).
    if (user.kind !== 'admin' && nra.verb !== 'get') return { allowed: false, reason: 'non-resource paths are read-only' };
    return decide(() => authorizeRoute(user, nra.path));
  }
  const attrs = ra!;
  const verb = attrs.verb ?? '';
  if (!verb) throw new BadRequestError('spec.resourceAttributes.verb is required');
  if (user.kind === 'admin') return { allowed: true, reason: 'the admin token may do anything' };
  const resource = attrs.resource ?? '';
  if (attrs.subresource === 'log' && resource === 'pods') return decide(() => authorizePodLog(user, attrs.namespace ?? '', attrs.name ?? ''));
  if (!requestVerbs.has(verb) || resource === '*' || (attrs.subresource && adminSubresources.has(attrs.subresource))) {
    return { allowed: false, reason: `only the admin may ${verb} ${resource || 'every resource'}${attrs.subresource ? `/${attrs.subresource}` : ''}` };
  }
  const r = resourceFor(attrs.group ?? '', resource);
  const current = (): KubeObject | undefined =>
    (r && attrs.name ? app.registry.store.get(keyFor(r, r.namespaced ? attrs.namespace : undefined, attrs.name)) : undefined);
  return decide(() => authorize(user, {
    verb: verb as Verb, group: attrs.group ?? '', version: attrs.version ?? '', resource,
    ...(attrs.namespace && { namespace: attrs.namespace }), ...(attrs.name && { name: attrs.name }),
    ...(attrs.subresource && { subresource: attrs.subresource }),
  }, current));
}

function reviewBody(req: FastifyRequest, kind: 'SelfSubjectAccessReview' | 'SelfSubjectReview'): AccessReview {
  // A SelfSubjectReview's body says nothing the answer needs (the caller is the subject).
  if (Buffer.isBuffer(req.body)) return kind === 'SelfSubjectReview' ? { kind } : decodeKubeProtobuf(req.body) as AccessReview;
  const body = parseBody(req.headers['content-type'], req.body as string | undefined) as AccessReview | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError(`the body must be a ${kind}`);
  if (body.kind !== undefined && body.kind !== kind) throw new BadRequestError(`the body is a ${String(body.kind)}, expected a ${kind}`);
  return body;
}

export function registerAccessReviews(app: FastifyInstance): void {
  app.post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', async (req, reply) => {
    const review = reviewBody(req, 'SelfSubjectAccessReview');
    const status = reviewAccess(app, req.user!, review);
    return reply.code(201).send({
      apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
      metadata: { creationTimestamp: null }, spec: review.spec, status,
    });
  });
  // v1 since Kubernetes 1.28; kubectl 1.27's `auth whoami` asks v1beta1 (and falls back from v1).
  for (const version of ['v1', 'v1beta1']) {
    app.post(`/apis/authentication.k8s.io/${version}/selfsubjectreviews`, async (req, reply) => {
      reviewBody(req, 'SelfSubjectReview');
      return reply.code(201).send({
        apiVersion: `authentication.k8s.io/${version}`, kind: 'SelfSubjectReview',
        metadata: { creationTimestamp: null }, status: { userInfo: userInfo(req.user!) },
      });
    });
  }
}
