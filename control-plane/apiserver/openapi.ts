// OpenAPI v3, built from the resource table and its TypeBox schemas. kubectl needs it for two
// things: `kubectl apply` checks that the PATCH operation of each kind takes `fieldValidation`
// (then it leaves validation to the server instead of refusing to run), and it reads the
// `x-kubernetes-patch-*` extensions to compute strategic merge patches (containers by name,
// ports by containerPort, ...). The index at /openapi/v3 points at one document per group-version.
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { NotFoundError } from '../api/errors.ts';
import { fieldDescription, kindDescription } from '../api/descriptions.ts';
import { apiVersionOf, resources, type ResourceType } from '../api/resources.ts';
import { kubernetesVersion } from './discovery.ts';
import { mergeKeyFor, mergedPrimitiveLists } from './patch.ts';

type Schema = Record<string, unknown>;

const isLiteral = (s: Schema) => 'const' in s;

/**
 * Rewrites a TypeBox schema into the OpenAPI dialect Kubernetes clients parse: records become
 * additionalProperties, literal unions enums, integer-or-string unions int-or-string, nullable
 * unions `nullable`; list fields get their patch strategy.
 */
export function toOpenApiSchema(schema: TSchema | Schema, path = ''): Schema {
  const s = schema as Schema;
  if (Array.isArray(s.anyOf)) {
    const members = s.anyOf as Schema[];
    const nonNull = members.filter((m) => m.type !== 'null');
    if (nonNull.every(isLiteral)) {
      return withCommon(s, { type: typeof nonNull[0]?.const === 'number' ? 'integer' : 'string', enum: nonNull.map((m) => m.const) }, nonNull.length < members.length);
    }
    if (nonNull.length === 1) return { ...toOpenApiSchema(nonNull[0]!, path), nullable: true };
    const types = new Set(nonNull.map((m) => m.type));
    if (types.has('string') && (types.has('integer') || types.has('number'))) return withCommon(s, { 'x-kubernetes-int-or-string': true }, false);
    return withCommon(s, { anyOf: nonNull.map((m) => toOpenApiSchema(m, path)) }, nonNull.length < members.length);
  }
  if (s.type === 'object') {
    const out: Schema = { type: 'object' };
    if (s.properties) {
      out.properties = Object.fromEntries(Object.entries(s.properties as Record<string, Schema>)
        .map(([key, child]) => [key, toOpenApiSchema(child, path ? `${path}.${key}` : key)]));
      if (Array.isArray(s.required) && s.required.length > 0) out.required = s.required;
    }
    if (s.patternProperties) {
      const [value] = Object.values(s.patternProperties as Record<string, Schema>);
      out.additionalProperties = value ? toOpenApiSchema(value, path) : {};
    }
    return withCommon(s, out, false);
  }
  if (s.type === 'array') {
    const out: Schema = { type: 'array', items: toOpenApiSchema((s.items ?? {}) as Schema, path) };
    const key = mergeKeyFor(path);
    if (key) Object.assign(out, { 'x-kubernetes-patch-merge-key': key, 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [key] });
    else if (mergedPrimitiveLists.includes(path)) Object.assign(out, { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-list-type': 'set' });
    else out['x-kubernetes-list-type'] = 'atomic';
    return withCommon(s, out, false);
  }
  if (s.type === 'null') return { nullable: true };
  if (s.type === undefined) return { 'x-kubernetes-preserve-unknown-fields': true };
  return withCommon(s, { type: s.type }, false);
}

function withCommon(from: Schema, out: Schema, nullable: boolean): Schema {
  for (const k of ['default', 'minimum', 'maximum', 'minLength', 'minItems', 'description', 'format']) {
    if (from[k] !== undefined) out[k] = from[k];
  }
  if (nullable) out.nullable = true;
  return out;
}

/** Adds the descriptions of api/descriptions.ts to a kind's schema, for `kubectl explain`. */
function describe(schema: Schema, kind: string, path = ''): Schema {
  if (!path) {
    const text = kindDescription(kind);
    if (text) schema.description = text;
  }
  const target = schema.type === 'array' ? schema.items as Schema : schema;
  for (const [key, child] of Object.entries((target?.properties ?? {}) as Record<string, Schema>)) {
    const childPath = path ? `${path}.${key}` : key;
    const text = fieldDescription(kind, childPath);
    if (text && child.description === undefined) child.description = text;
    describe(child, kind, childPath);
  }
  return schema;
}

const schemaName = (r: ResourceType) =>
  `io.k8s.api.${r.group === '' ? 'core' : r.group.split('.')[0]}.${r.version}.${r.kind}`;
const gvk = (r: ResourceType) => ({ group: r.group, version: r.version, kind: r.kind });
const ref = (r: ResourceType) => ({ $ref: `#/components/schemas/${schemaName(r)}` });
const gvPath = (group: string, version: string) => (group ? `apis/${group}/${version}` : `api/${version}`);

const queryParam = (name: string, type = 'string') => ({ name, in: 'query', schema: { type }, description: name });
const pathParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const writeParams = ['dryRun', 'fieldManager', 'fieldValidation'].map((n) => queryParam(n));
const listParams = [...['labelSelector', 'fieldSelector', 'continue', 'resourceVersion'].map((n) => queryParam(n)),
  queryParam('limit', 'integer'), queryParam('timeoutSeconds', 'integer'), queryParam('watch', 'boolean')];
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });

function operation(r: ResourceType, action: string, verb: string, extra: Schema = {}): Schema {
  return {
    operationId: `${verb}${r.kind}`, tags: [r.group || 'core'],
    'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk(r),
    responses: { 200: { description: 'OK', ...json(ref(r)) } },
    ...extra,
  };
}

function pathsFor(r: ResourceType): Record<string, Schema> {
  const base = `/${gvPath(r.group, r.version)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}`;
  const scope = r.namespaced ? [pathParam('namespace')] : [];
  const body = { requestBody: { required: true, ...json(ref(r)) } };
  const patchBody = {
    requestBody: {
      required: true,
      content: Object.fromEntries(['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json']
        .map((t) => [t, { schema: { type: 'object' } }])),
    },
  };
  const paths: Record<string, Schema> = {
    [base]: {
      parameters: scope,
      get: operation(r, 'list', 'list', { parameters: listParams }),
      post: operation(r, 'post', 'create', { parameters: writeParams, ...body }),
      delete: operation(r, 'deletecollection', 'deleteCollection', { parameters: listParams }),
    },
    [`${base}/{name}`]: {
      parameters: [...scope, pathParam('name')],
      get: operation(r, 'get', 'read'),
      put: operation(r, 'put', 'replace', { parameters: writeParams, ...body }),
      patch: operation(r, 'patch', 'patch', { parameters: [...writeParams, queryParam('force', 'boolean')], ...patchBody }),
      delete: operation(r, 'delete', 'delete', { parameters: [queryParam('gracePeriodSeconds', 'integer'), queryParam('propagationPolicy'), queryParam('dryRun')] }),
    },
  };
  if (r.namespaced) {
    paths[`/${gvPath(r.group, r.version)}/${r.plural}`] = { get: operation(r, 'list', 'listAllNamespaces', { parameters: listParams }) };
  }
  return paths;
}

/** The OpenAPI v3 document of one group-version, or undefined when labkube serves none. */
export function openApiDocument(group: string, version: string): Schema | undefined {
  const list = resources.filter((r) => r.group === group && r.version === version);
  if (list.length === 0) return undefined;
  return {
    openapi: '3.0.0',
    info: { title: 'labkube', version: `v${kubernetesVersion.major}.${kubernetesVersion.minor}.0-labkube` },
    paths: Object.assign({}, ...list.map(pathsFor)),
    components: {
      schemas: Object.fromEntries(list.map((r) => [schemaName(r), {
        ...describe(toOpenApiSchema(r.schema), r.kind),
        'x-kubernetes-group-version-kind': [gvk(r)],
      }])),
    },
  };
}

interface Served { body: string; hash: string }
const served = new Map<string, Served>();

/** Documents never change while the server runs: build each once, named by its hash for caching. */
function documentFor(group: string, version: string): Served | undefined {
  const key = gvPath(group, version);
  let doc = served.get(key);
  if (!doc) {
    const built = openApiDocument(group, version);
    if (!built) return undefined;
    const body = JSON.stringify(built);
    doc = { body, hash: createHash('sha512').update(body).digest('hex').slice(0, 64).toUpperCase() };
    served.set(key, doc);
  }
  return doc;
}

export function openApiIndex(): { paths: Record<string, { serverRelativeURL: string }> } {
  const gvs = [...new Map(resources.map((r) => [apiVersionOf(r), r])).values()];
  return {
    paths: Object.fromEntries(gvs.map((r) => {
      const path = gvPath(r.group, r.version);
      return [path, { serverRelativeURL: `/openapi/v3/${path}?hash=${documentFor(r.group, r.version)!.hash}` }];
    })),
  };
}

export function registerOpenApi(app: FastifyInstance): void {
  const notFound = () => new NotFoundError('the server could not find the requested resource');
  app.get('/openapi/v3', async () => openApiIndex());
  const serve = (group: string, version: string) => {
    const doc = documentFor(group, version);
    if (!doc) throw notFound();
    return doc.body;
  };
  app.get<{ Params: { version: string } }>('/openapi/v3/api/:version', async (_req, reply) =>
    reply.type('application/json').send(serve('', _req.params.version)));
  app.get<{ Params: { group: string; version: string } }>('/openapi/v3/apis/:group/:version', async (req, reply) =>
    reply.type('application/json').send(serve(req.params.group, req.params.version)));
}
