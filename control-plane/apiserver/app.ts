// The API server as a fastify plugin: Kubernetes' paths and verbs over the registry, with
// authentication, authorization, watch streams, discovery and metrics. `server.ts` starts it;
// tests build it and use `app.inject`.
import type http from 'node:http';
import https from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import {
  ApiError, BadRequestError, InternalError, NotFoundError, TooLargeError, UnsupportedMediaTypeError,
} from '../api/errors.ts';
import { parseFieldSelector } from '../api/fields.ts';
import { parseLabelSelector } from '../api/labels.ts';
import type { KubeObject } from '../api/meta.ts';
import { resourceFor, type ResourceType } from '../api/resources.ts';
import { isValidName } from '../api/validation.ts';
import type { Store } from '../store/types.ts';
import { Authenticator, authorize, type User } from './auth.ts';
import { parseBody, patchTypeOf } from './body.ts';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.ts';
import { ApiMetrics } from './metrics.ts';
import { Registry, keyFor, type DeleteOptions } from './registry.ts';
import { parseRequestInfo, type RequestInfo } from './request-info.ts';
import { serveWatch, type WatchSettings } from './watch.ts';
import { toTable, wantsTable, type IncludeObject } from './tables.ts';
import { registerPodLogRoute } from './pod-logs.ts';
import { registerOpenApi } from './openapi.ts';

export interface ApiServerOptions {
  store: Store;
  adminToken: string;
  joinToken: string;
  logger?: Logger | false;
  /** Largest request body; Kubernetes' limit is 3 MiB. */
  bodyLimit?: number;
  watch?: Partial<WatchSettings>;
  /** Serve HTTPS with this certificate; plain HTTP without (tests use `inject`). */
  tls?: { cert: string; key: string };
  /** The address clients should use, for discovery (`host:port`). */
  serverAddress?: string;
  clock?: () => Date;
  /** PEM of the CA private key: signs the short-lived tokens the API server presents to agents for pod logs. */
  podLogSigningKeyPem?: string;
}

declare module 'fastify' {
  interface FastifyInstance { registry: Registry; metrics: ApiMetrics; authenticator: Authenticator }
  interface FastifyRequest { apiInfo?: RequestInfo; user?: User }
}

const defaultWatchSettings: WatchSettings = {
  // Kubernetes sends a bookmark about once a minute; more often keeps informers' resume points
  // inside the store's 5-minute history on a quiet cluster.
  bookmarkIntervalMs: 30_000,
  // Kubernetes' --min-request-timeout is 1800 s; clients reconnect from their last revision.
  maxTimeoutSeconds: 1800,
  maxBufferedBytes: 16 * 1024 * 1024,
};

const unauthenticatedPaths = new Set(['/healthz', '/readyz', '/livez', '/version']);

export async function buildApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : {}),
    ...(options.tls && { serverFactory: (handler: http.RequestListener) => https.createServer(options.tls!, handler) }),
    bodyLimit: options.bodyLimit ?? 3 * 1024 * 1024,
    // Heartbeats and watches would drown the log; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    // Object names may be up to 253 characters; fastify's default parameter limit is 100.
    routerOptions: { maxParamLength: 1024 },
  });
  const registry = new Registry(options.store, options.clock);
  const metrics = new ApiMetrics(options.store);
  const authenticator = new Authenticator(options.store, options.adminToken, options.joinToken);
  const watchSettings = { ...defaultWatchSettings, ...options.watch };
  app.decorate('registry', registry);
  app.decorate('metrics', metrics);
  app.decorate('authenticator', authenticator);
  app.decorateRequest('apiInfo', undefined);
  app.decorateRequest('user', undefined);
  ensureSystemNamespaces(registry);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0]!;
    if (unauthenticatedPaths.has(path)) return;
    req.user = authenticator.authenticate(req.headers.authorization);
  });
  // Group commit: nothing leaves the server until every write before it is on disk.
  app.addHook('onSend', async () => { await options.store.sync(); });
  app.addHook('onResponse', async (req, reply) => {
    const info = req.apiInfo;
    if (!info || info.verb === 'watch') return;
    const labels = { verb: info.verb, resource: info.subresource ? `${info.resource}/${info.subresource}` : info.resource, code: String(reply.statusCode) };
    metrics.requestDuration.observe(labels, reply.elapsedTime / 1000);
    metrics.requests.inc(labels);
  });

  app.setErrorHandler((err, req, reply) => {
    const api = toApiError(err);
    if (api.code >= 500) req.log.error({ err }, 'request failed');
    return reply.code(api.code).type('application/json').send(api.toStatus());
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send(new NotFoundError('the server could not find the requested resource').toStatus()));

  const ok = async (_req: FastifyRequest, reply: FastifyReply) => reply.type('text/plain').send('ok');
  app.get('/healthz', ok);
  app.get('/livez', ok);
  app.get('/readyz', ok);
  app.get('/version', async () => versionInfo());
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/api', async (req) => apiVersions(options.serverAddress ?? req.headers.host ?? '127.0.0.1:6443'));
  app.get('/apis', async () => apiGroupList());
  app.get<{ Params: { group: string } }>('/apis/:group', async (req) => {
    const list = apiGroupList().groups.find((g) => g.name === req.params.group);
    if (!list) throw new NotFoundError('the server could not find the requested resource');
    return apiGroup(req.params.group);
  });
  const discovery = (group: string, version: string) => {
    const list = apiResourceList(group, version);
    if (!list) throw new NotFoundError('the server could not find the requested resource');
    return list;
  };
  app.get('/api/v1', async () => discovery('', 'v1'));
  app.get<{ Params: { group: string; version: string } }>('/apis/:group/:version', async (req) => discovery(req.params.group, req.params.version));
  registerOpenApi(app);

  app.post('/labkube/v1/join', async (req, reply) => {
    if (req.user?.kind !== 'joiner' && req.user?.kind !== 'admin') throw new BadRequestError('joining needs the join token');
    const body = parseBody(req.headers['content-type'], req.body as string | undefined) as { nodeName?: unknown } | undefined;
    const nodeName = body?.nodeName;
    if (typeof nodeName !== 'string' || !isValidName('Node', nodeName)) {
      throw new BadRequestError('nodeName must be a lowercase RFC 1123 subdomain');
    }
    return reply.code(201).send({ nodeName, token: authenticator.issueNodeToken(nodeName) });
  });

  // Registered before the /api/v1/* wildcard so the router prefers it.
  if (options.podLogSigningKeyPem) registerPodLogRoute(app, { signingKeyPem: options.podLogSigningKeyPem });
  const handle = (req: FastifyRequest, reply: FastifyReply) => serveResource(app, req, reply, watchSettings);
  for (const prefix of ['/api/v1/*', '/apis/:group/:version/*']) {
    app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], url: prefix, handler: handle });
  }
  return app;
}

type Query = Record<string, string | string[] | undefined>;
const param = (q: Query, name: string): string | undefined => {
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
};
const flag = (q: Query, name: string) => ['1', 'true'].includes(param(q, name) ?? '');
function intParam(q: Query, name: string): number | undefined {
  const v = param(q, name);
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw new BadRequestError(`${name} must be an integer, got "${v}"`);
  return Number(v);
}

async function serveResource(app: FastifyInstance, req: FastifyRequest, reply: FastifyReply, watchSettings: WatchSettings) {
  const q = req.query as Query;
  const info = parseRequestInfo(req.method, req.url, flag(q, 'watch'));
  req.apiInfo = info;
  const r = resourceFor(info.group, info.resource);
  if (!r || r.version !== info.version) throw new NotFoundError('the server could not find the requested resource');
  checkScope(r, info);
  const body = req.body === undefined || req.body === '' ? undefined : parseBody(req.headers['content-type'], req.body as string);
  const { registry } = app;
  const ns = info.namespace;
  authorize(req.user!, info, body, () => (info.name ? registry.store.get(keyFor(r, ns, info.name)) : undefined));
  const dryRun = param(q, 'dryRun') === 'All';
  const sendWrite = (code: number, result: { object: unknown; warnings: string[] }) => {
    if (result.warnings.length > 0 && param(q, 'fieldValidation') !== 'Ignore') {
      reply.header('Warning', result.warnings.map((w) => `299 - ${JSON.stringify(w)}`));
    }
    return reply.code(code).send(result.object);
  };

  const table = wantsTable(req.headers.accept) && !info.subresource;
  const include = (param(q, 'includeObject') ?? 'Metadata') as IncludeObject;
  if (table) reply.type('application/json;as=Table;v=v1;g=meta.k8s.io');

  switch (info.verb) {
    case 'get': {
      if (info.subresource === 'scale') return registry.getScale(r, ns!, info.name!);
      const obj = registry.get(r, ns, info.name!);
      return table ? toTable(r, obj, include) : obj;
    }
    case 'list': {
      const list = registry.list(r, ns, {
        labelSelector: param(q, 'labelSelector'), fieldSelector: param(q, 'fieldSelector'),
        limit: intParam(q, 'limit'), continue: param(q, 'continue'),
      });
      return table ? toTable(r, list, include) : list;
    }
    case 'watch': {
      const labels = parseLabelSelector(param(q, 'labelSelector'));
      const fields = parseFieldSelector(param(q, 'fieldSelector') ?? (info.name ? `metadata.name=${info.name}` : undefined), r.kind);
      const timeoutSeconds = intParam(q, 'timeoutSeconds');
      // Start from committed state only: a watcher must never see a write a crash could lose.
      await registry.store.sync();
      reply.hijack();
      app.metrics.watchers.inc({ resource: r.plural });
      serveWatch(registry, {
        resource: r, labels, fields, allowBookmarks: flag(q, 'allowWatchBookmarks'),
        ...(ns !== undefined && { namespace: ns }),
        ...(param(q, 'resourceVersion') !== undefined && { resourceVersion: param(q, 'resourceVersion') }),
        ...(timeoutSeconds !== undefined && { timeoutSeconds }),
      }, reply.raw, {
        ...watchSettings,
        // kubectl get -w asks for Tables: each event then carries a one-row Table.
        ...(table && { encode: (e) => (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED' ? { type: e.type, object: toTable(r, e.object, include) } : e) }),
      }, () => app.metrics.watchers.dec({ resource: r.plural }));
      return reply;
    }
    case 'create':
      if (info.subresource === 'binding') {
        registry.bind(ns!, info.name!, body);
        return reply.code(201).send({ apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success', code: 201 });
      }
      if (info.name) throw new NotFoundError('the server could not find the requested resource');
      return sendWrite(201, registry.create(r, ns, body, { dryRun }));
    case 'update':
      if (info.subresource === 'scale') return registry.updateScale(r, ns!, info.name!, body, { dryRun });
      return sendWrite(200, registry.update(r, ns, info.name!, body, info.subresource, { dryRun }));
    case 'patch':
      return sendWrite(200, registry.patch(r, ns, info.name!, patchTypeOf(req.headers['content-type']), body, info.subresource, { dryRun }));
    case 'delete': {
      const result = registry.delete(r, ns, info.name!, deleteOptions(q, body, dryRun));
      return reply.code(result.pending ? 202 : 200).send(result.object);
    }
    case 'deletecollection':
      return registry.deleteCollection(r, ns, { labelSelector: param(q, 'labelSelector'), fieldSelector: param(q, 'fieldSelector') },
        deleteOptions(q, body, dryRun));
  }
}

/** Rejects a path whose scope does not fit the resource: /api/v1/pods/x, /api/v1/namespaces/a/nodes. */
function checkScope(r: ResourceType, info: RequestInfo): void {
  const missing = () => new NotFoundError('the server could not find the requested resource');
  if (!r.namespaced && info.namespace !== undefined) throw missing();
  if (r.namespaced && info.namespace === undefined && (info.name !== undefined || info.verb === 'create' || info.verb === 'deletecollection')) throw missing();
  const allowedSub = info.subresource === undefined || r.subresources.includes(info.subresource as never) ||
    (r.kind === 'Namespace' && info.subresource === 'finalize');
  if (!allowedSub) throw missing();
  if (info.subresource === 'binding' && info.verb !== 'create') throw missing();
  // pods/log has its own route (pod-logs.ts), which proxies to the node's agent.
  if (info.subresource === 'log') throw missing();
  if (info.subresource && info.subresource !== 'binding' && !['get', 'update', 'patch'].includes(info.verb)) throw missing();
  if (info.namespace !== undefined && !isValidName('Namespace', info.namespace)) {
    throw new BadRequestError(`invalid namespace "${info.namespace}" in the request path`);
  }
}

function deleteOptions(q: Query, body: unknown, dryRun: boolean): DeleteOptions {
  const b = (body && typeof body === 'object' ? body : {}) as Omit<Partial<DeleteOptions>, 'dryRun'> & { orphanDependents?: boolean; dryRun?: string[] };
  const grace = intParam(q, 'gracePeriodSeconds') ?? b.gracePeriodSeconds;
  if (grace !== undefined && (typeof grace !== 'number' || !Number.isInteger(grace))) throw new BadRequestError('gracePeriodSeconds must be an integer');
  let policy = param(q, 'propagationPolicy') ?? b.propagationPolicy;
  if (policy === undefined && (param(q, 'orphanDependents') === 'true' || b.orphanDependents === true)) policy = 'Orphan';
  if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
    throw new BadRequestError(`propagationPolicy must be one of Orphan, Background, Foreground, got "${policy}"`);
  }
  return {
    ...(grace !== undefined && { gracePeriodSeconds: grace }),
    ...(policy !== undefined && { propagationPolicy: policy as DeleteOptions['propagationPolicy'] }),
    ...(b.preconditions && { preconditions: b.preconditions }),
    dryRun: dryRun || (Array.isArray(b.dryRun) && b.dryRun.includes('All')),
  };
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new TooLargeError('the request body is larger than the server accepts');
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new UnsupportedMediaTypeError();
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return new BadRequestError(e.message ?? 'bad request');
  return new InternalError('an internal error occurred', { cause: err });
}

function ensureSystemNamespaces(registry: Registry): void {
  const ns = resourceFor('', 'namespaces')!;
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    if (!registry.store.get(keyFor(ns, undefined, name))) {
      registry.create(ns, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } as KubeObject);
    }
  }
}
