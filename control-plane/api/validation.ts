// Validation and defaulting of objects sent to the API, for every kind: the kind's TypeBox schema
// checks types and fills Kubernetes' defaults, then the kind's strategy (kinds/*.ts) fills the
// defaults that depend on other fields and checks what a schema cannot express. The metadata
// checks every kind shares (names, labels, annotations, owner references) are here.
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { BadRequestError, InvalidError, TooLargeError } from './errors.ts';
import type { KubeObject, StatusCause } from './meta.ts';
import { ObjectMeta } from './meta.ts';
import { apiVersionOf, strategyFor, strategyForKind, type ResourceType } from './resources.ts';
import { labelErrors, nameError, qualifiedNameError, type Invalid } from './kinds/checks.ts';

/** Kubernetes' TotalAnnotationSizeLimitB: annotations are not meant to carry data. */
export const maxAnnotationBytes = 256 * 1024;
/**
 * The largest object the API stores. etcd's default request limit (--max-request-bytes) is
 * 1.5 MiB, which is what bounds an object's size in Kubernetes; labkube keeps the same bound so
 * one object cannot fill an SD card or stall a list.
 */
export const maxObjectBytes = 1.5 * 1024 * 1024;

/** Throws 413 when `obj`, encoded as stored, is larger than maxObjectBytes. */
export function checkObjectSize(obj: unknown, kind: string, name: string): void {
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(obj) ?? '');
  } catch (err) {
    // The body parser bounds nesting; an object built deeper still is the client's error, not a crash.
    if (err instanceof RangeError) throw new BadRequestError(`${kind} "${name}" is nested too deeply`);
    throw err;
  }
  if (bytes > maxObjectBytes) {
    throw new TooLargeError(`${kind} "${name}" is too large: ${bytes} bytes, the limit is ${maxObjectBytes} bytes`);
  }
}

export const isValidName = (kind: string, name: string) => nameError(name, strategyForKind(kind)?.nameIsDnsLabel === true) === undefined;

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
  // Before Value.Default: it turns a list sent for an object-typed field into an object
  // (`strategy: [7]` -> `{"0": 7, "type": "RollingUpdate"}`), which the schema then accepts.
  const shape = shapeErrors(resource.schema, obj);
  if (shape.length > 0) throw new InvalidError(resource.kind, String(obj.metadata?.name ?? obj.metadata?.generateName ?? ''), shape);
  Value.Default(resource.schema, obj);
  strategyFor(resource).defaults?.(obj);
}

/** The kind of JSON value a schema asks for at one place, when that is one kind for sure. */
function expectedShape(schema: TSchema | undefined): 'object' | 'array' | undefined {
  if (!schema) return undefined;
  const { type, anyOf } = schema as { type?: unknown; anyOf?: TSchema[] };
  if (type === 'object' || type === 'array') return type;
  // `null` beside one shape (`ports: [...] | null`) still leaves that shape as the only one.
  const nonNull = anyOf?.filter((v) => (v as { type?: unknown }).type !== 'null');
  if (nonNull && nonNull.length > 0) {
    const shapes = new Set(nonNull.map(expectedShape));
    if (shapes.size === 1) return [...shapes][0];
  }
  return undefined;
}

/** The schema of `key` inside an object schema (a declared property, or a map's values). */
function childSchema(schema: TSchema | undefined, key: string | number): TSchema | undefined {
  if (!schema) return undefined;
  const s = schema as { items?: TSchema; properties?: Record<string, TSchema>; patternProperties?: Record<string, TSchema>; anyOf?: TSchema[] };
  if (s.anyOf) return childSchema(s.anyOf.find((v) => expectedShape(v) === (typeof key === 'number' ? 'array' : 'object')), key);
  if (typeof key === 'number') return s.items;
  if (s.properties && Object.hasOwn(s.properties, key)) return s.properties[key];
  return s.patternProperties ? Object.values(s.patternProperties)[0] : undefined;
}

/**
 * Where `value` is not plain JSON (a typed array from YAML's `!!binary`, a non-finite number), or
 * holds a list or a scalar where the schema wants an object, or the reverse. The other type
 * errors are left to the compiled checker, which runs after defaults and names them better.
 * Without a schema, only checks that `value` is plain JSON. Iterative, so a deeply nested body cannot overflow the stack.
 */
export function shapeErrors(schema: TSchema | undefined, value: unknown): StatusCause[] {
  const causes: StatusCause[] = [];
  const stack: { schema: TSchema | undefined; value: unknown; path: string }[] = [{ schema, value, path: '' }];
  const wrong = (path: string, message: string) => {
    if (!causes.some((c) => c.field === path)) causes.push({ reason: 'FieldValueTypeInvalid', message, field: path });
  };
  while (stack.length > 0 && causes.length < 20) {
    const at = stack.pop()!;
    const v = at.value;
    const want = expectedShape(at.schema);
    if (v === null || typeof v === 'string' || typeof v === 'boolean' || v === undefined) {
      if (want && typeof v !== 'undefined' && v !== null) wrong(at.path, `Invalid value: ${JSON.stringify(v)}: must be ${want === 'object' ? 'an object' : 'a list'}`);
      continue;
    }
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) wrong(at.path, 'Invalid value: must be a finite number');
      else if (want) wrong(at.path, `Invalid value: ${v}: must be ${want === 'object' ? 'an object' : 'a list'}`);
      continue;
    }
    if (typeof v !== 'object') { wrong(at.path, `Invalid value: a ${typeof v} is not JSON`); continue; }
    if (Array.isArray(v)) {
      if (want === 'object') { wrong(at.path, `Invalid value: ${JSON.stringify(v).slice(0, 64)}: must be an object, not a list`); continue; }
      v.forEach((item: unknown, i) => stack.push({ schema: childSchema(at.schema, i), value: item, path: `${at.path}[${i}]` }));
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) { wrong(at.path, 'Invalid value: must be plain JSON (null, a boolean, a number, a string, a list or an object)'); continue; }
    if (want === 'array') { wrong(at.path, 'Invalid value: must be a list, not an object'); continue; }
    for (const [key, item] of Object.entries(v)) {
      stack.push({ schema: childSchema(at.schema, key), value: item, path: at.path ? `${at.path}.${key}` : key });
    }
  }
  return causes.sort((a, b) => (a.field! < b.field! ? -1 : 1));
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

/**
 * The metadata of a body that replaces or patches an object: the server keeps its own uid,
 * resourceVersion, timestamps and generation, but a value of the wrong type in them is still a
 * malformed request (Kubernetes' decoder fails on it), not something to ignore silently.
 */
export function checkMetadataTypes(kind: string, obj: KubeObject): void {
  const checker = checkerFor(ObjectMeta);
  if (checker.Check(obj.metadata)) return;
  const causes: StatusCause[] = [];
  for (const err of checker.Errors(obj.metadata)) {
    const field = `metadata${fieldPath(err.path) ? `.${fieldPath(err.path)}` : ''}`.replace('.[', '[');
    if (!causes.some((c) => c.field === field)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${err.message}`, field });
    if (causes.length >= 20) break;
  }
  throw new InvalidError(kind, String(obj.metadata.name ?? ''), causes);
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
  const invalid: Invalid = (field, message, reason = 'FieldValueInvalid') => { causes.push({ reason, message, field }); };
  const strategy = strategyFor(resource);
  metadataErrors(obj, strategy.nameIsDnsLabel === true, invalid);
  strategy.validate?.(obj, invalid);
  return causes;
}

function metadataErrors(obj: KubeObject, labelOnly: boolean, invalid: Invalid): void {
  const meta = obj.metadata;
  if (meta.name !== undefined && meta.name !== '') {
    const err = nameError(meta.name, labelOnly);
    if (err) invalid('metadata.name', `Invalid value: "${meta.name}": ${err}`);
  } else if (meta.generateName !== undefined && meta.generateName !== '') {
    const err = nameError(meta.generateName, labelOnly, true);
    if (err) invalid('metadata.generateName', `Invalid value: "${meta.generateName}": ${err}`);
  } else {
    invalid('metadata.name', 'Required value: name or generateName is required', 'FieldValueRequired');
  }
  labelErrors(meta.labels, 'metadata.labels', invalid);
  ownerReferenceErrors(meta.ownerReferences ?? [], invalid);
  for (const f of meta.finalizers ?? []) {
    const err = qualifiedNameError(f);
    if (err) invalid('metadata.finalizers', `Invalid value: "${f}": ${err}`);
  }
  let annotationBytes = 0;
  for (const [key, value] of Object.entries(meta.annotations ?? {})) {
    const err = qualifiedNameError(key.toLowerCase());
    if (err) invalid('metadata.annotations', `Invalid value: "${key}": ${err}`);
    annotationBytes += key.length + value.length;
  }
  if (annotationBytes > maxAnnotationBytes) {
    invalid('metadata.annotations', `Too long: must have at most ${maxAnnotationBytes} bytes`, 'FieldValueTooLong');
  }
}

/** As Kubernetes' ValidateOwnerReferences: each reference complete, at most one controller. */
function ownerReferenceErrors(refs: ObjectMeta['ownerReferences'] & object, invalid: Invalid): void {
  let controller: string | undefined;
  for (const ref of refs) {
    const parts = ref.apiVersion.split('/');
    const version = parts.length === 1 ? parts[0] : parts.length === 2 ? parts[1] : '';
    if (!version) invalid('metadata.ownerReferences.apiVersion', `Invalid value: "${ref.apiVersion}": version must not be empty`);
    for (const field of ['kind', 'name', 'uid'] as const) {
      if (!ref[field]) invalid(`metadata.ownerReferences.${field}`, `Invalid value: "${ref[field]}": must not be empty`);
    }
    if (ref.controller !== true) continue;
    const current = `${ref.kind}/${ref.name}`;
    if (controller === undefined) { controller = current; continue; }
    invalid('metadata.ownerReferences', `Invalid value: Only one reference can have Controller set to true. Found "true" in references for ${controller} and ${current}`);
  }
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
