// The API server as a fastify plugin: Kubernetes' paths and verbs over the registry, with
// authentication, authorization, watch streams, discovery and metrics. `server.ts` starts it;
// tests build it and use `app.inject`.
import type http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import {
  ApiError, BadRequestError, GoneError, HeadersTooLargeError, InternalError, InvalidError, MethodNotAllowedError, NotFoundError,
  RequestTimeoutError, TooLargeError, UnsupportedMediaTypeError,
} from '../api/errors.ts';
import { parseFieldSelector } from '../api/fields.ts';
import { parseLabelSelector } from '../api/labels.ts';
import type { KubeObject } from '../api/meta.ts';
import { resourceFor, type ResourceType } from '../api/resources.ts';
import { isValidName } from '../api/validation.ts';
import type { Store } from '../store/types.ts';
import { Authenticator, admit, authorize, authorizeRoute, needsAdmission, publicRoutes, type User } from './auth.ts';
import { parseBody, patchTypeOf } from './body.ts';
import { applyPatchType, checkFieldManagerOptions, type FieldManagerOptions } from './field-manager.ts';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.ts';
import { ApiMetrics } from './metrics.ts';
import { boolParam, checkDryRun, checkFieldValidation, dryRunParam, intParam, listOptions, param, resourceVersionParam, type Query } from './query.ts';
import { Registry, keyFor, prefixFor, type DeleteOptions, type RegistryOptions } from './registry.ts';
import { parseRequestInfo, type RequestInfo } from './request-info.ts';
import { serveWatch, type WatchSettings } from './watch.ts';
import { toTable, wantsTable, type IncludeObject } from './tables.ts';
import { registerPodExec } from './pod-exec.ts';
import { registerPodLogRoute } from './pod-logs.ts';
import { registerOpenApi } from './openapi.ts';
import { registerOpenApiV2 } from './openapi-v2.ts';
import { registerAccessReviews } from './access-review.ts';
import { evict } from './eviction.ts';
import { kubeProtobufType } from './kube-protobuf.ts';
import { registerJoinRoute } from './join.ts';
import { registerMetricsApi } from './metrics-api.ts';
import { registerDashboard } from './ui.ts';

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
  /** PEM of the cluster CA certificate: with podLogSigningKeyPem, signs nodes' serving certificates at join and verifies them when proxying. */
  caPem?: string;
  /** Service CIDR and NodePort range (registry.ts). */
  registry?: RegistryOptions;
}

/**
 * TLS 1.2 suites offered: only AEAD ones with forward secrecy (Go's and so Kubernetes' defaults);
 * no CBC, no SHA-1 MACs, no static RSA. TLS 1.3 suites are all AEAD and listed as usual.
 */
export const tlsCiphers = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

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


/**
 * Errors the HTTP parser raises before any route runs (a header block past Node's 16 KiB, a
 * malformed request line, a slow client) still get a Kubernetes Status, on a closing connection.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return; }
  const api = err.code === 'HPE_HEADER_OVERFLOW' ? new HeadersTooLargeError()
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? new RequestTimeoutError()
      : new BadRequestError(`the request could not be parsed: ${err.code ?? 'malformed HTTP'}`);
  answerOnSocket(socket, api);
}

/** Writes a Status and closes: for answers given below fastify, on the bare socket. */
function answerOnSocket(socket: Duplex, api: ApiError): void {
  const body = JSON.stringify(api.toStatus());
  const reasons: Record<number, string> = { 405: 'Method Not Allowed', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };
  socket.end(`HTTP/1.1 ${api.code} ${reasons[api.code] ?? 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * How much of a too-large body is read and dropped before answering 413: a client writes its
 * whole body before it reads the answer, so closing at once gives it EPIPE instead of the 413.
 * Past this (about five times the body limit) the connection is cut: that client is not
 * making a mistake.
 */
const maxDrainBytes = 16 * 1024 * 1024;

function drainRequest(raw: http.IncomingMessage): Promise<void> {
  if (raw.complete || raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    raw.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxDrainBytes) { raw.socket.destroy(); resolve(); }
    });
    raw.once('end', () => resolve());
    raw.once('close', () => resolve());
    raw.once('error', () => resolve());
    raw.resume();
  });
}

export async function buildApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : {}),
    ...(options.tls && {
      serverFactory: (handler: http.RequestListener) => https.createServer({
        ...options.tls!, minVersion: 'TLSv1.2', ciphers: tlsCiphers, honorCipherOrder: true,
      }, handler),
    }),
    bodyLimit: options.bodyLimit ?? 3 * 1024 * 1024,
    // Heartbeats and watches would drown the log; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    // Object names may be up to 253 characters; fastify's default parameter limit is 100.
    routerOptions: { maxParamLength: 1024 },
    clientErrorHandler: answerClientError,
    // A path the router cannot decode (`/api/v1/namespaces/%ZZ`) is the client's mistake.
    frameworkErrors: (err, _req, reply) => {
      const api = err.code === 'FST_ERR_BAD_URL' ? new BadRequestError('the request path has an invalid escape') : toApiError(err);
      // The generic reply type of this hook cannot take a status code it did not declare.
      void (reply as unknown as FastifyReply).code(api.code).type('application/json').send(api.toStatus());
    },
  });
  // Node's HTTP server hands CONNECT to a 'connect' listener and, with none, drops the socket.
  app.server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => answerOnSocket(socket, new MethodNotAllowedError()));
  const registry = new Registry(options.store, options.clock, options.registry);
  const metrics = new ApiMetrics(options.store);
  const authenticator = new Authenticator(options.store, options.adminToken, options.joinToken);
  app.addHook('onClose', async () => authenticator.close());
  const watchSettings = { ...defaultWatchSettings, ...options.watch };
  app.decorate('registry', registry);
  app.decorate('metrics', metrics);
  app.decorate('authenticator', authenticator);
  app.decorateRequest('apiInfo', undefined);
  app.decorateRequest('user', undefined);
  ensureSystemNamespaces(registry);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  // Bytes, not text: parseBody and the access reviews decode Kubernetes protobuf (kube-protobuf.ts).
  app.addContentTypeParser(kubeProtobufType, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // Decided on the matched route, not the raw URL: `/metric%73` routes to /metrics too. The body
  // is not read yet: a join token sending 3 MiB to a resource path is refused before it is.
  app.addHook('onRequest', async (req) => {
    const route = req.routeOptions.url;
    if (route !== undefined && publicRoutes.has(route)) return;
    req.user = authenticator.authenticate(req.headers.authorization);
    authorizeRoute(req.user, route);
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

  app.setErrorHandler(async (err, req, reply) => {
    const api = toApiError(err);
    if (api.code >= 500) req.log.error({ err }, 'request failed');
    if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') await drainRequest(req.raw);
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
  registerOpenApiV2(app);

  registerJoinRoute(app, {
    ...(options.caPem && options.podLogSigningKeyPem && { clusterCa: { certPem: options.caPem, keyPem: options.podLogSigningKeyPem } }),
  });
  registerMetricsApi(app);
  registerDashboard(app);
  registerAccessReviews(app);

  // Registered before the /api/v1/* wildcard so the router prefers it.
  if (options.podLogSigningKeyPem) {
    registerPodLogRoute(app, { signingKeyPem: options.podLogSigningKeyPem, caPem: options.caPem });
    registerPodExec(app, { signingKeyPem: options.podLogSigningKeyPem, caPem: options.caPem });
  }
  const handle = (req: FastifyRequest, reply: FastifyReply) => serveResource(app, req, reply, watchSettings);
  for (const prefix of ['/api/v1/*', '/apis/:group/:version/*']) {
    app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], url: prefix, handler: handle });
  }
  return app;
}

const bodyVerbs = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const optionsKind: Record<string, string> = { create: 'CreateOptions', update: 'UpdateOptions', patch: 'PatchOptions', delete: 'DeleteOptions', deletecollection: 'DeleteOptions' };

/**
 * One resource request, in the order Kubernetes' handler chain takes it: the path, then
 * authorization on the path alone, then the query options, and only then the body is parsed,
 * so that no credential can make the server parse a body it was not allowed to send.
 */
async function serveResource(app: FastifyInstance, req: FastifyRequest, reply: FastifyReply, watchSettings: WatchSettings) {
  const q = req.query as Query;
  const info = parseRequestInfo(req.method, req.url, boolParam(q, 'watch'));
  req.apiInfo = info;
  const r = resourceFor(info.group, info.resource);
  if (!r || r.version !== info.version) throw new NotFoundError('the server could not find the requested resource');
  checkScope(r, info);
  const { registry } = app;
  const ns = info.namespace;
  const user = req.user!;
  const current = () => (info.name ? registry.store.get(keyFor(r, ns, info.name)) : undefined);
  authorize(user, info, current);
  const dryRun = bodyVerbs.has(info.verb) ? dryRunParam(q, optionsKind[info.verb]!) : false;
  const writing = ['create', 'update', 'patch'].includes(info.verb);
  if (writing) checkFieldValidation(q, optionsKind[info.verb]!);
  const patchType = info.verb === 'patch' ? patchTypeOf(req.headers['content-type']) : undefined;
  const fields: FieldManagerOptions = {
    ...(param(q, 'fieldManager') !== undefined && { fieldManager: param(q, 'fieldManager') }),
    ...(req.headers['user-agent'] && { userAgent: req.headers['user-agent'] }),
    ...(param(q, 'force') !== undefined && { force: boolParam(q, 'force') }),
  };
  if (writing) checkFieldManagerOptions(fields, optionsKind[info.verb]!, patchType === applyPatchType);
  const listing = info.verb === 'list' || info.verb === 'watch' || info.verb === 'deletecollection';
  const options = listing ? listOptions(q, info.verb === 'watch') : {};
  if (!listing) resourceVersionParam(q); // a get serves the latest state, but a malformed version is still a 400
  const body = !bodyVerbs.has(info.verb) || req.body === undefined || req.body === ''
    ? undefined : parseBody(req.headers['content-type'], req.body as string | Buffer, info.verb === 'patch' ? 'patch' : 'object');
  const admission = needsAdmission(user, info);
  const admitted = (object: unknown, old?: KubeObject) => admit(user, info, {
    object, ...(old && { old }), pod: (podNs, name) => registry.store.get(keyFor(resourceFor('', 'pods')!, podNs, name)),
  });
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
      // Every list serves the latest state, which satisfies "not older than" any revision the
      // store has handed out. One it has not, or an exact older one, it cannot serve: 410, and
      // the client lists afresh (Kubernetes answers the first 504 after a wait, and serves the
      // second from etcd's history, which labkube does not keep in listable form).
      const rv = options.resourceVersion;
      const latest = registry.store.revision(prefixFor(r, ns));
      if (rv !== undefined && rv > latest) throw new GoneError(`too large resource version: ${rv}, current: ${latest}`);
      if (options.resourceVersionMatch === 'Exact' && rv !== latest) throw new GoneError(`too old resource version: ${rv} (labkube lists only the current state, ${latest})`);
      const labelSelector = param(q, 'labelSelector');
      const fieldSelector = param(q, 'fieldSelector');
      if (!table && !labelSelector && !fieldSelector && options.limit === undefined && options.continue === undefined) {
        return reply.type('application/json; charset=utf-8').send(registry.listJson(r, ns));
      }
      const list = registry.list(r, ns, {
        labelSelector, fieldSelector,
        ...(options.limit !== undefined && { limit: options.limit }), ...(options.continue !== undefined && { continue: options.continue }),
      });
      return table ? toTable(r, list, include) : list;
    }
    case 'watch': {
      const labels = parseLabelSelector(param(q, 'labelSelector'));
      const fields = parseFieldSelector(param(q, 'fieldSelector'), r.kind);
      // A watch of one named object (`GET .../pods/NAME?watch=1`) is a watch of that name.
      if (info.name) fields.push({ field: 'metadata.name', value: info.name, equal: true });
      const { timeoutSeconds, resourceVersion } = options; // watch.ts caps the timeout
      // Start from committed state only: a watcher must never see a write a crash could lose.
      await registry.store.sync();
      reply.hijack();
      app.metrics.watchers.inc({ resource: r.plural });
      serveWatch(registry, {
        resource: r, labels, fields, allowBookmarks: boolParam(q, 'allowWatchBookmarks'),
        ...(ns !== undefined && { namespace: ns }),
        ...(resourceVersion !== undefined && { resourceVersion }),
        ...(timeoutSeconds !== undefined && { timeoutSeconds }),
      }, reply.raw, {
        ...watchSettings,
        // kubectl get -w asks for Tables: each event then carries a one-row Table.
        ...(table && { encode: (e) => (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED' ? { type: e.type, object: toTable(r, e.object, include) } : e) }),
      }, () => app.metrics.watchers.dec({ resource: r.plural }));
      return reply;
    }
    case 'create':
      if (info.subresource === 'binding' || info.subresource === 'eviction') {
        if (info.subresource === 'binding') registry.bind(ns!, info.name!, body);
        else evict(registry, ns!, info.name!, body);
        return reply.code(201).send({ apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success', code: 201 });
      }
      if (info.name) throw new NotFoundError('the server could not find the requested resource');
      if (admission) admitted(body);
      return sendWrite(201, registry.create(r, ns, body, { dryRun, fields }));
    case 'update':
      if (info.subresource === 'scale') return registry.updateScale(r, ns!, info.name!, body, { dryRun, fields });
      if (admission) admitted(body, registry.get(r, ns, info.name!));
      return sendWrite(200, registry.update(r, ns, info.name!, body, info.subresource, { dryRun, fields }));
    case 'patch': {
      const type = patchType!;
      if (admission) {
        // What a node may change depends on the patch's result: compute it without writing.
        // Both steps run in one turn of the event loop, so nothing can change in between.
        const old = registry.get(r, ns, info.name!);
        admitted(registry.patch(r, ns, info.name!, type, body, info.subresource, { dryRun: true, fields }).object, old);
      }
      const result = registry.patch(r, ns, info.name!, type, body, info.subresource, { dryRun, fields });
      // An apply that creates the object answers 201, as Kubernetes does.
      return sendWrite(result.created ? 201 : 200, result);
    }
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
  const createOnly = info.subresource === 'binding' || info.subresource === 'eviction';
  if (createOnly && info.verb !== 'create') throw missing();
  // pods/log has its own route (pod-logs.ts), which proxies to the node's agent.
  if (info.subresource === 'log') throw missing();
  if (info.subresource && !createOnly && !['get', 'update', 'patch'].includes(info.verb)) throw missing();
  if (info.namespace !== undefined && !isValidName('Namespace', info.namespace)) {
    throw new BadRequestError(`invalid namespace "${info.namespace}" in the request path`);
  }
}

/**
 * DeleteOptions from the query and the body (the body wins where both say something), decoded
 * with the types Kubernetes' decoder insists on (a wrong type is a 400) and then checked as
 * ValidateDeleteOptions does. gracePeriodSeconds is an int64 there, a JSON-safe integer here,
 * which the registry bounds further (a deletionTimestamp must stay a date JavaScript can write).
 */
function deleteOptions(q: Query, body: unknown, dryRun: boolean): DeleteOptions {
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw new BadRequestError(`the body of a delete must be a DeleteOptions object, got ${Array.isArray(body) ? 'a list' : typeof body}`);
  }
  const b = (body ?? {}) as Record<string, unknown>;
  const typed = <T>(field: string, ok: (v: unknown) => boolean, what: string): T | undefined => {
    const v = b[field];
    if (v === undefined || v === null) return undefined;
    if (!ok(v)) throw new BadRequestError(`DeleteOptions.${field} must be ${what}, got ${JSON.stringify(v).slice(0, 64)}`);
    return v as T;
  };
  const isString = (v: unknown) => typeof v === 'string';
  const grace = typed<number>('gracePeriodSeconds', Number.isSafeInteger, 'an integer') ?? intParam(q, 'gracePeriodSeconds');
  const policy = typed<string>('propagationPolicy', isString, 'a string') ?? param(q, 'propagationPolicy');
  const orphan = typed<boolean>('orphanDependents', (v) => typeof v === 'boolean', 'true or false') ??
    (param(q, 'orphanDependents') !== undefined ? boolParam(q, 'orphanDependents') : undefined);
  const bodyDryRun = typed<string[]>('dryRun', (v) => Array.isArray(v), 'a list') ?? [];
  const pre = typed<Record<string, unknown>>('preconditions', (v) => typeof v === 'object' && !Array.isArray(v), 'an object');
  for (const field of ['uid', 'resourceVersion']) {
    const v = pre?.[field];
    if (v !== undefined && v !== null && typeof v !== 'string') throw new BadRequestError(`DeleteOptions.preconditions.${field} must be a string`);
  }
  if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
    throw new BadRequestError(`propagationPolicy must be one of Orphan, Background, Foreground, got ${JSON.stringify(policy).slice(0, 64)}`);
  }
  if (policy !== undefined && orphan !== undefined) {
    throw new InvalidError('DeleteOptions', '', [{ reason: 'FieldValueInvalid', field: 'propagationPolicy', message: 'Invalid value: orphanDependents and deletionPropagation cannot be both set' }]);
  }
  checkDryRun(bodyDryRun, 'DeleteOptions');
  const effectivePolicy = policy ?? (orphan ? 'Orphan' : undefined);
  return {
    ...(grace !== undefined && { gracePeriodSeconds: grace }),
    ...(effectivePolicy !== undefined && { propagationPolicy: effectivePolicy as DeleteOptions['propagationPolicy'] }),
    ...(pre && { preconditions: pre as DeleteOptions['preconditions'] }),
    dryRun: dryRun || bodyDryRun.length > 0,
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
