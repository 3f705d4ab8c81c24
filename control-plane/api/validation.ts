// Validation and defaulting of objects sent to the API. The kind's TypeBox schema checks types
// and fills Kubernetes' defaults; the checks below it are the ones a schema cannot express
// (names, selectors that must match their template, unique container names).
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { BadRequestError, InvalidError } from './errors.ts';
import type { KubeObject, StatusCause } from './meta.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import { fromLabelSelector, matches } from './labels.ts';

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Returns why a name is invalid, or undefined. Namespaces and services need a DNS-1123 label. */
export function nameError(name: string, labelOnly: boolean): string | undefined {
  if (labelOnly) {
    if (name.length > 63 || !dns1123Label.test(name)) {
      return `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')`;
    }
  } else if (name.length > 253 || !dns1123Subdomain.test(name)) {
    return `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')`;
  }
  return undefined;
}

const needsLabelName = new Set(['Namespace', 'Service']);
export const isValidName = (kind: string, name: string) => nameError(name, needsLabelName.has(kind)) === undefined;

const checkers = new Map<TSchema, TypeCheck<TSchema>>();
function checkerFor(schema: TSchema): TypeCheck<TSchema> {
  let check = checkers.get(schema);
  if (!check) { check = TypeCompiler.Compile(schema); checkers.set(schema, check); }
  return check;
}

/** `/spec/containers/0/name` -> `spec.containers[0].name`, as Kubernetes names fields. */
function fieldPath(pointer: string): string {
  return pointer.split('/').slice(1).reduce((path, part) =>
    (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

/** Fills defaults in place: the schema's, then those that depend on other fields. */
export function applyDefaults(resource: ResourceType, obj: KubeObject): void {
  Value.Default(resource.schema, obj);
  const templateSpec = resource.kind === 'Pod' ? obj.spec
    : (obj.spec as { template?: { spec?: unknown } } | undefined)?.template?.spec;
  for (const c of (templateSpec as { containers?: { image?: string; imagePullPolicy?: string }[] } | undefined)?.containers ?? []) {
    if (c && typeof c === 'object' && typeof c.image === 'string' && !c.imagePullPolicy) {
      // Kubernetes: Always for `:latest` or no tag, IfNotPresent for any other tag.
      const tag = /:([^/:@]+)$/.exec(c.image)?.[1];
      c.imagePullPolicy = !c.image.includes('@') && (tag === undefined || tag === 'latest') ? 'Always' : 'IfNotPresent';
    }
  }
}

/**
 * Checks a whole object the client sent for `resource`. Throws a 400 for the wrong kind or
 * apiVersion and a 422 listing every invalid field; returns nothing when the object is valid.
 */
export function validate(resource: ResourceType, obj: KubeObject): void {
  checkTypeMeta(resource, obj);
  const name = obj.metadata?.name ?? obj.metadata?.generateName ?? '';
  const causes: StatusCause[] = [];
  const checker = checkerFor(resource.schema);
  // Check() is compiled and cheap; walking for error messages is only worth it when it fails.
  if (!checker.Check(obj)) for (const err of checker.Errors(obj)) {
    const field = fieldPath(err.path);
    if (causes.some((c) => c.field === field)) continue; // one cause per field is enough to act on
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${err.message}`, field });
    if (causes.length >= 20) break;
  }
  if (causes.length === 0) causes.push(...semanticErrors(resource, obj));
  if (causes.length > 0) throw new InvalidError(resource.kind, String(name), causes);
}

/** A body for one kind may not claim another kind or version: 400, as Kubernetes' decoder says. */
export function checkTypeMeta(resource: ResourceType, obj: KubeObject): void {
  const expected = apiVersionOf(resource);
  if (obj.apiVersion !== undefined && obj.apiVersion !== expected) {
    throw new BadRequestError(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${expected})`);
  }
  if (obj.kind !== undefined && obj.kind !== resource.kind) {
    throw new BadRequestError(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${resource.kind})`);
  }
}

function semanticErrors(resource: ResourceType, obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const invalid = (field: string, message: string) => causes.push({ reason: 'FieldValueInvalid', message, field });
  const meta = obj.metadata;
  if (meta.name !== undefined) {
    const err = nameError(meta.name, needsLabelName.has(resource.kind));
    if (err) invalid('metadata.name', `Invalid value: "${meta.name}": ${err}`);
  } else if (meta.generateName === undefined) {
    causes.push({ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' });
  }
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    if (!/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(key)) {
      invalid('metadata.labels', `Invalid value: "${key}": a valid label key must consist of alphanumeric characters, '-', '_' or '.'`);
    }
    if (value.length > 63 || !/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(value)) {
      invalid('metadata.labels', `Invalid value: "${value}": a valid label value must be 63 characters or less and consist of alphanumeric characters, '-', '_' or '.'`);
    }
  }
  const spec = obj.spec as Record<string, unknown> | undefined;
  if (resource.kind === 'Pod') podSpecErrors(spec, 'spec', invalid);
  if (resource.kind === 'Deployment' || resource.kind === 'ReplicaSet') {
    const selector = spec?.selector as Parameters<typeof fromLabelSelector>[0];
    const template = spec?.template as { metadata?: { labels?: Record<string, string> }; spec?: unknown } | undefined;
    const reqs = fromLabelSelector(selector);
    if (reqs.length === 0) invalid('spec.selector', 'Invalid value: empty selector is invalid for deployment');
    else if (template && !matches(reqs, template.metadata?.labels)) {
      invalid('spec.template.metadata.labels', 'Invalid value: `selector` does not match template `labels`');
    }
    if (template) podSpecErrors(template.spec as Record<string, unknown>, 'spec.template.spec', invalid);
  }
  return causes;
}

function podSpecErrors(spec: Record<string, unknown> | undefined, at: string,
  invalid: (field: string, message: string) => void): void {
  const containers = (spec?.containers ?? []) as { name: string; ports?: { hostPort?: number; protocol?: string }[] }[];
  const seen = new Set<string>();
  containers.forEach((c, i) => {
    const err = nameError(c.name, true);
    if (err) invalid(`${at}.containers[${i}].name`, `Invalid value: "${c.name}": ${err}`);
    if (seen.has(c.name)) invalid(`${at}.containers[${i}].name`, `Duplicate value: "${c.name}"`);
    seen.add(c.name);
  });
  const hostPorts = new Set<string>();
  containers.forEach((c, i) => (c.ports ?? []).forEach((p, j) => {
    if (!p.hostPort) return;
    const key = `${p.protocol ?? 'TCP'}/${p.hostPort}`;
    if (hostPorts.has(key)) invalid(`${at}.containers[${i}].ports[${j}].hostPort`, `Duplicate value: "${key}"`);
    hostPorts.add(key);
  }));
}

/**
 * Lists fields of `value` that the schema does not declare: kept as sent, but labkube does not
 * act on them, so the API reports them as warnings (as Kubernetes does for unknown fields).
 */
export function unknownFields(schema: TSchema, value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) {
    const items = (schema as { items?: TSchema }).items;
    return items ? value.flatMap((v, i) => unknownFields(items, v, `${path}[${i}]`)) : [];
  }
  const variants = (schema as { anyOf?: TSchema[] }).anyOf;
  if (variants) {
    const objectVariant = variants.find((v) => (v as { type?: string }).type === 'object');
    return objectVariant ? unknownFields(objectVariant, value, path) : [];
  }
  const { properties, patternProperties } = schema as { properties?: Record<string, TSchema>; patternProperties?: Record<string, TSchema> };
  if (patternProperties) {
    const inner = Object.values(patternProperties)[0]!;
    return Object.entries(value).flatMap(([k, v]) => unknownFields(inner, v, `${path}.${k}`));
  }
  if (!properties) return [];
  const found: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const child = path ? `${path}.${key}` : key;
    const sub = properties[key];
    if (!sub) found.push(child);
    else found.push(...unknownFields(sub, v, child));
  }
  return found;
}
