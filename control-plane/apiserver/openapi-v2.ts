// OpenAPI v2 at /openapi/v2, for kubectl 1.27 and 1.28: their `apply` reads the v2 document (and
// only v2) for the patch strategies of each kind, and fails with 404 without it. client-go asks
// for it as protobuf (gnostic's openapi_v2.Document) and parses nothing else, so that is what is
// served; JSON is served to a client that asks for JSON.
//
// The document is the v3 one (openapi.ts) said again in Swagger 2.0 terms: one `definitions`
// table for every group, `$ref`s into it, body parameters instead of request bodies, and the
// vendor extensions (x-kubernetes-*) as gnostic carries them, YAML text inside a NamedAny.
// The protobuf schema below is the subset of gnostic's OpenAPIv2.proto that this document uses,
// written out with its field numbers and encoded by protobufjs.
import type { FastifyInstance } from 'fastify';
import protobuf from 'protobufjs';
import { stringify } from 'yaml';
import { resources } from '../api/resources.ts';
import { kubernetesVersion } from './discovery.ts';
import { openApiDocument } from './openapi.ts';

type Json = Record<string, unknown>;

/**
 * What Kubernetes answers with. client-go asks for `...spec.v2@v1.0+protobuf`, but '@' is not a
 * token character, and Go's mime parser (kubectl 1.27 reads the answer's type with it) refuses
 * that form: the server sends the dotted one.
 */
export const openApiV2ProtobufType = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

const f = (type: string, id: number, repeated = false) => ({ type, id, ...(repeated && { rule: 'repeated' }) });
const oneof = (fields: Record<string, { type: string; id: number }>) => ({ oneofs: { oneof: { oneof: Object.keys(fields) } }, fields });
const named = (value: string) => ({ fields: { name: f('string', 1), value: f(value, 2) } });
const primitiveParameter = {
  fields: {
    required: f('bool', 1), in: f('string', 2), description: f('string', 3), name: f('string', 4),
    type: f('string', 5), uniqueItems: f('bool', 19),
  },
};

const gnostic = protobuf.Root.fromJSON({
  nested: {
    openapi: {
      nested: {
        v2: {
          nested: {
            Any: { fields: { yaml: f('string', 2) } },
            NamedAny: named('Any'),
            NamedSchema: named('Schema'),
            NamedPathItem: named('PathItem'),
            NamedResponseValue: named('ResponseValue'),
            Info: { fields: { title: f('string', 1), version: f('string', 2) } },
            Document: {
              fields: {
                swagger: f('string', 1), info: f('Info', 2), paths: f('Paths', 8), definitions: f('Definitions', 9),
              },
            },
            Paths: { fields: { path: f('NamedPathItem', 2, true) } },
            Definitions: { fields: { additionalProperties: f('NamedSchema', 1, true) } },
            Properties: { fields: { additionalProperties: f('NamedSchema', 1, true) } },
            PathItem: {
              fields: {
                get: f('Operation', 2), put: f('Operation', 3), post: f('Operation', 4), delete: f('Operation', 5),
                patch: f('Operation', 8), parameters: f('ParametersItem', 9, true),
              },
            },
            Operation: {
              fields: {
                tags: f('string', 1, true), description: f('string', 3), operationId: f('string', 5),
                produces: f('string', 6, true), consumes: f('string', 7, true), parameters: f('ParametersItem', 8, true),
                responses: f('Responses', 9), vendorExtension: f('NamedAny', 13, true),
              },
            },
            ParametersItem: oneof({ parameter: f('Parameter', 1) }),
            Parameter: oneof({ bodyParameter: f('BodyParameter', 1), nonBodyParameter: f('NonBodyParameter', 2) }),
            BodyParameter: {
              fields: { description: f('string', 1), name: f('string', 2), in: f('string', 3), required: f('bool', 4), schema: f('Schema', 5) },
            },
            NonBodyParameter: oneof({ queryParameterSubSchema: f('QueryParameterSubSchema', 3), pathParameterSubSchema: f('PathParameterSubSchema', 4) }),
            // The two differ only in numbering after `name`: a query parameter has allow_empty_value at 5.
            QueryParameterSubSchema: { fields: { ...primitiveParameter.fields, type: f('string', 6), uniqueItems: f('bool', 20) } },
            PathParameterSubSchema: primitiveParameter,
            Responses: { fields: { responseCode: f('NamedResponseValue', 1, true) } },
            ResponseValue: oneof({ response: f('Response', 1) }),
            Response: { fields: { description: f('string', 1), schema: f('SchemaItem', 2) } },
            SchemaItem: oneof({ schema: f('Schema', 1) }),
            Schema: {
              fields: {
                _ref: f('string', 1), format: f('string', 2), description: f('string', 4), default: f('Any', 5),
                maximum: f('double', 7), minimum: f('double', 9), minLength: f('int64', 12), minItems: f('int64', 15),
                required: f('string', 19, true), enum: f('Any', 20, true), additionalProperties: f('AdditionalPropertiesItem', 21),
                type: f('TypeItem', 22), items: f('ItemsItem', 23), properties: f('Properties', 25), vendorExtension: f('NamedAny', 31, true),
              },
            },
            AdditionalPropertiesItem: oneof({ schema: f('Schema', 1), boolean: f('bool', 2) }),
            TypeItem: { fields: { value: f('string', 1, true) } },
            ItemsItem: { fields: { schema: f('Schema', 1, true) } },
          },
        },
      },
    },
  },
});
const DocumentType = gnostic.lookupType('openapi.v2.Document');

/** A v3 schema of openapi.ts in Swagger 2.0 terms: refs into `definitions`; v2 has no nullable and no anyOf (untyped then). */
function v2Schema(s: Json): Json {
  if (typeof s.$ref === 'string') return { $ref: s.$ref.replace('#/components/schemas/', '#/definitions/') };
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'nullable' || k === 'anyOf') continue;
    if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v as Record<string, Json>).map(([n, c]) => [n, v2Schema(c)]));
    else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) out[k] = v2Schema(v as Json);
    else out[k] = v;
  }
  return out;
}

function v2Operation(op: Json): Json {
  const parameters = ((op.parameters ?? []) as Json[]).map(v2Parameter);
  const body = op.requestBody as { content: Record<string, { schema: Json }> } | undefined;
  if (body) parameters.push({ name: 'body', in: 'body', required: true, schema: v2Schema(Object.values(body.content)[0]!.schema) });
  const ok = ((op.responses as Json)['200'] as { content: Record<string, { schema: Json }> }).content['application/json']!.schema;
  const { requestBody: _b, responses: _r, parameters: _p, ...rest } = op;
  return {
    ...rest, consumes: body ? Object.keys(body.content) : ['*/*'], produces: ['application/json', 'application/yaml'],
    parameters, responses: { 200: { description: 'OK', schema: v2Schema(ok) } },
  };
}

function v2Parameter(p: Json): Json {
  const { schema, ...rest } = p;
  return { ...rest, type: (schema as Json | undefined)?.type ?? 'string', ...(p.in === 'query' && { uniqueItems: true }) };
}

/** The whole API as one Swagger 2.0 document. */
export function swaggerDocument(): Json {
  const paths: Json = {};
  const definitions: Json = {};
  for (const gv of new Set(resources.map((r) => `${r.group}/${r.version}`))) {
    const [group, version] = gv.split('/') as [string, string];
    const doc = openApiDocument(group, version)!;
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      paths[path] = Object.fromEntries(Object.entries(item).map(([k, v]) =>
        [k, k === 'parameters' ? (v as Json[]).map(v2Parameter) : v2Operation(v as Json)]));
    }
    for (const [name, schema] of Object.entries((doc.components as { schemas: Record<string, Json> }).schemas)) definitions[name] = v2Schema(schema);
  }
  return {
    swagger: '2.0',
    info: { title: 'labkube', version: `v${kubernetesVersion.major}.${kubernetesVersion.minor}.0-labkube` },
    paths, definitions,
  };
}

// Swagger JSON -> gnostic message, as gnostic's own compiler does it.
const yamlAny = (value: unknown) => ({ yaml: stringify(value).trimEnd() });
const extensions = (o: Json) => Object.entries(o).filter(([k]) => k.startsWith('x-')).map(([name, value]) => ({ name, value: yamlAny(value) }));
const namedList = (o: Json, each: (v: Json) => Json) => Object.entries(o).map(([name, v]) => ({ name, value: each(v as Json) }));

function schemaMessage(s: Json): Json {
  if (typeof s.$ref === 'string') return { _ref: s.$ref };
  const out: Json = {};
  if (typeof s.type === 'string') out.type = { value: [s.type] };
  for (const k of ['format', 'description', 'minimum', 'maximum', 'minLength', 'minItems', 'required']) if (s[k] !== undefined) out[k] = s[k];
  if (s.default !== undefined) out.default = yamlAny(s.default);
  if (Array.isArray(s.enum)) out.enum = s.enum.map(yamlAny);
  if (s.properties) out.properties = { additionalProperties: namedList(s.properties as Json, schemaMessage) };
  if (s.additionalProperties !== undefined) {
    out.additionalProperties = typeof s.additionalProperties === 'boolean'
      ? { boolean: s.additionalProperties } : { schema: schemaMessage(s.additionalProperties as Json) };
  }
  if (s.items) out.items = { schema: [schemaMessage(s.items as Json)] };
  out.vendorExtension = extensions(s);
  return out;
}

function parameterMessage(p: Json): Json {
  if (p.in === 'body') return { parameter: { bodyParameter: { ...p, schema: schemaMessage(p.schema as Json) } } };
  return { parameter: { nonBodyParameter: p.in === 'path' ? { pathParameterSubSchema: p } : { queryParameterSubSchema: p } } };
}

function operationMessage(op: Json): Json {
  const responses = op.responses as Record<string, Json>;
  return {
    tags: op.tags, operationId: op.operationId, consumes: op.consumes, produces: op.produces,
    parameters: (op.parameters as Json[]).map(parameterMessage),
    responses: { responseCode: namedList(responses, (r) => ({ response: { description: r.description, schema: { schema: schemaMessage(r.schema as Json) } } })) },
    vendorExtension: extensions(op),
  };
}

export function gnosticMessage(doc: Json): Json {
  return {
    swagger: doc.swagger, info: doc.info,
    paths: {
      path: namedList(doc.paths as Json, (item) => Object.fromEntries(Object.entries(item).map(([k, v]) =>
        [k, k === 'parameters' ? (v as Json[]).map(parameterMessage) : operationMessage(v as Json)]))),
    },
    definitions: { additionalProperties: namedList(doc.definitions as Json, schemaMessage) },
  };
}

let built: { protobuf: Buffer; json: string } | undefined;

/** Built once, on first request: the resource table does not change while the server runs. */
function documents(): { protobuf: Buffer; json: string } {
  if (!built) {
    const doc = swaggerDocument();
    const message = DocumentType.fromObject(gnosticMessage(doc));
    built = { protobuf: Buffer.from(DocumentType.encode(message).finish()), json: JSON.stringify(doc) };
  }
  return built;
}

/** Decodes a served protobuf document (tests read it back the way client-go would). */
export function decodeOpenApiV2(bytes: Uint8Array): Json {
  return DocumentType.toObject(DocumentType.decode(bytes), { longs: Number }) as Json;
}

export function registerOpenApiV2(app: FastifyInstance): void {
  app.get('/openapi/v2', async (req, reply) => {
    const docs = documents();
    if ((req.headers.accept ?? '').includes('protobuf')) return reply.type(openApiV2ProtobufType).send(docs.protobuf);
    return reply.type('application/json').send(docs.json);
  });
}
