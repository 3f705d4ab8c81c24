// Validation and defaulting of objects sent to the API. The kind's TypeBox schema checks types
// and fills Kubernetes' defaults; the checks below it are the ones a schema cannot express
// (names, selectors that must match their template, unique container names).
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { BadRequestError, InvalidError, TooLargeError } from './errors.ts';
import type { KubeObject, StatusCause } from './meta.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import { fromLabelSelector, matches } from './labels.ts';
import type { Container, Node, PodSpec, ServiceSpec, Toleration } from './core.ts';
import type { Deployment } from './apps.ts';
import type { Lease } from './coordination.ts';
import type { PodDisruptionBudget } from './policy.ts';
import { ObjectMeta, type LabelSelector } from './meta.ts';
import { imageReferenceError } from './image-reference.ts';
import { isIPv4, isIPv4Cidr } from './ip.ts';
import { isQuantity, quantityValue } from './quantity.ts';

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Returns why a name is invalid, or undefined. Namespaces and services need a DNS-1123 label.
 * With `prefix`, `name` is a generateName, which the random suffix completes.
 */
export function nameError(name: string, labelOnly: boolean, prefix = false): string | undefined {
  // Kubernetes masks a trailing '-'; labkube's event recorder also ends a prefix with '.'.
  const checked = prefix && name.length > 1 && /[-.]$/.test(name) ? `${name.slice(0, -1)}a` : name;
  if (labelOnly) {
    if (checked.length > 63) return 'must be no more than 63 characters';
    if (!dns1123Label.test(checked)) {
      return `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')`;
    }
  } else {
    if (checked.length > 253) return 'must be no more than 253 characters';
    if (!dns1123Subdomain.test(checked)) {
      return `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')`;
    }
  }
  return undefined;
}

const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why `key` is not a label or annotation key (`[prefix/]name`), as Kubernetes' IsQualifiedName. */
export function qualifiedNameError(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'a qualified name must consist of an optional DNS subdomain prefix and "/" and a name';
  const name = parts[parts.length - 1]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0) return 'prefix part must be non-empty';
    if (prefix.length > 253 || !dns1123Subdomain.test(prefix)) return 'prefix part must be a lowercase RFC 1123 subdomain of at most 253 characters';
  }
  if (name.length === 0) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!qualifiedNamePart.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

/** Why `value` is not a label value, as Kubernetes' IsValidLabelValue. */
export function labelValueError(value: string): string | undefined {
  if (value.length > 63) return 'must be no more than 63 characters';
  if (!labelValuePattern.test(value)) {
    return "a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

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

const ianaServiceName = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** Why `name` is not a port name (IANA_SVC_NAME: 15 characters, a letter, no `--`). */
export function portNameError(name: string): string | undefined {
  if (name.length > 15) return 'must be no more than 15 characters';
  if (!ianaServiceName.test(name)) return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
  if (name.includes('--')) return "must not contain consecutive hyphens";
  if (!/[a-z]/.test(name)) return 'must contain at least one letter (a-z)';
  return undefined;
}

/** A port given as a number (1-65535) or as the name of a container port. */
export function portOrNameError(port: number | string): string | undefined {
  if (typeof port === 'number') return port >= 1 && port <= 65535 ? undefined : 'must be between 1 and 65535, inclusive';
  return portNameError(port);
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
  // Before Value.Default: it turns a list sent for an object-typed field into an object
  // (`strategy: [7]` -> `{"0": 7, "type": "RollingUpdate"}`), which the schema then accepts.
  const shape = shapeErrors(resource.schema, obj);
  if (shape.length > 0) throw new InvalidError(resource.kind, String(obj.metadata?.name ?? obj.metadata?.generateName ?? ''), shape);
  Value.Default(resource.schema, obj);
  const templateSpec = resource.kind === 'Pod' ? obj.spec
    : (obj.spec as { template?: { spec?: unknown } } | undefined)?.template?.spec;
  const containers = (templateSpec as { containers?: unknown } | undefined)?.containers;
  // Defaults run before validation: a `containers` that is not a list is the validator's to report.
  for (const c of (Array.isArray(containers) ? containers : []) as { image?: unknown; imagePullPolicy?: string }[]) {
    if (c && typeof c === 'object' && typeof c.image === 'string' && !c.imagePullPolicy) {
      // Kubernetes: Always for `:latest` or no tag, IfNotPresent for any other tag.
      const tag = /:([^/:@]+)$/.exec(c.image)?.[1];
      c.imagePullPolicy = !c.image.includes('@') && (tag === undefined || tag === 'latest') ? 'Always' : 'IfNotPresent';
    }
  }
  if (resource.kind === 'Service') {
    const ports = (obj.spec as { ports?: unknown } | undefined)?.ports;
    for (const p of (Array.isArray(ports) ? ports : []) as { port?: unknown; targetPort?: unknown }[]) {
      // Kubernetes: a Service port forwards to the same port on the pod unless told otherwise.
      if (p && typeof p === 'object' && (p.targetPort === undefined || p.targetPort === 0) && typeof p.port === 'number') p.targetPort = p.port;
    }
  }
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

type Invalid = (field: string, message: string, reason?: string) => void;

function semanticErrors(resource: ResourceType, obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const invalid: Invalid = (field, message, reason = 'FieldValueInvalid') => { causes.push({ reason, message, field }); };
  metadataErrors(resource, obj, invalid);
  const spec = obj.spec as Record<string, unknown> | undefined;
  switch (resource.kind) {
    case 'Pod': podSpecErrors(spec as PodSpec, 'spec', invalid); break;
    case 'Deployment': case 'ReplicaSet': workloadErrors(resource.kind, spec, invalid); break;
    case 'Service': serviceErrors(spec as ServiceSpec, invalid); break;
    case 'Node': nodeErrors(obj as unknown as Node, invalid); break;
    case 'Lease': leaseErrors(spec as Lease['spec'], invalid); break;
    case 'PodDisruptionBudget': budgetErrors(spec as PodDisruptionBudget['spec'], invalid); break;
    default: break;
  }
  return causes;
}

function metadataErrors(resource: ResourceType, obj: KubeObject, invalid: Invalid): void {
  const meta = obj.metadata;
  const labelOnly = needsLabelName.has(resource.kind);
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
  if (resource.kind === 'Namespace') {
    for (const f of (obj.spec as { finalizers?: string[] } | undefined)?.finalizers ?? []) {
      const err = qualifiedNameError(f) ?? (!f.includes('/') && !standardFinalizers.has(f) ? 'name is neither a standard finalizer name nor is it fully qualified' : undefined);
      if (err) invalid('spec.finalizers', `Invalid value: "${f}": ${err}`);
    }
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

/** Finalizers Kubernetes itself acts on, the only ones allowed without a `domain/` prefix. */
const standardFinalizers = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

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

/** Labels, and anything that uses label syntax (selectors, node selectors). */
function labelErrors(labels: Record<string, string> | undefined, at: string, invalid: Invalid): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    const keyErr = qualifiedNameError(key);
    if (keyErr) invalid(at, `Invalid value: "${key}": ${keyErr}`);
    const valueErr = labelValueError(value);
    if (valueErr) invalid(`${at}`, `Invalid value: "${value}": ${valueErr}`);
  }
}

function workloadErrors(kind: string, spec: Record<string, unknown> | undefined, invalid: Invalid): void {
  const selector = spec?.selector as LabelSelector | undefined;
  const template = spec?.template as { metadata?: { labels?: Record<string, string> }; spec?: unknown } | undefined;
  const reqs = fromLabelSelector(selector);
  labelErrors(selector?.matchLabels, 'spec.selector.matchLabels', invalid);
  if (reqs.length === 0) invalid('spec.selector', `Invalid value: empty selector is invalid for ${kind.toLowerCase()}`);
  else if (template && !matches(reqs, template.metadata?.labels)) {
    invalid('spec.template.metadata.labels', 'Invalid value: `selector` does not match template `labels`');
  }
  if (template) {
    labelErrors(template.metadata?.labels, 'spec.template.metadata.labels', invalid);
    podSpecErrors(template.spec as PodSpec, 'spec.template.spec', invalid);
  }
  if (kind === 'Deployment') strategyErrors(spec?.strategy as Deployment['spec']['strategy'], invalid);
}

const percent = /^(\d{1,10})%$/;
/** maxSurge/maxUnavailable: a non-negative integer or a percentage; their value in percent points or replicas. */
function intOrPercentError(value: number | string): string | undefined {
  if (typeof value === 'number') return value < 0 ? 'must be greater than or equal to 0' : undefined;
  const m = percent.exec(value);
  if (!m) return 'a valid percent string must be a numeric string followed by an ending \'%\' (e.g. \'1%\',  or \'93%\')';
  return undefined;
}
/** ValidatePodDisruptionBudgetSpec: one of minAvailable and maxUnavailable, each a count or a percentage up to 100%. */
function budgetErrors(spec: PodDisruptionBudget['spec'], invalid: Invalid): void {
  if (!spec) return;
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    invalid('spec.minAvailable', 'Invalid value: minAvailable and maxUnavailable cannot be both set');
  }
  for (const [field, value] of [['minAvailable', spec.minAvailable], ['maxUnavailable', spec.maxUnavailable]] as const) {
    if (value === undefined) continue;
    const err = intOrPercentError(value);
    if (err) invalid(`spec.${field}`, `Invalid value: ${JSON.stringify(value)}: ${err}`);
    else if (typeof value === 'string' && Number(percent.exec(value)![1]) > 100) invalid(`spec.${field}`, `Invalid value: "${value}": must be no greater than 100%`);
  }
  if (spec.selector) labelErrors(spec.selector.matchLabels, 'spec.selector.matchLabels', invalid);
}

const isZero = (v: number | string | undefined) => v !== undefined && (v === 0 || (typeof v === 'string' && /^0+%$/.test(v)));

function strategyErrors(strategy: Deployment['spec']['strategy'], invalid: Invalid): void {
  const rolling = strategy?.rollingUpdate;
  if (!rolling) return;
  if (strategy?.type === 'Recreate') {
    invalid('spec.strategy.rollingUpdate', "Forbidden: may not be specified when strategy `type` is 'Recreate'", 'FieldValueForbidden');
    return;
  }
  const { maxSurge, maxUnavailable } = rolling;
  for (const [field, value] of [['maxSurge', maxSurge], ['maxUnavailable', maxUnavailable]] as const) {
    if (value === undefined) continue;
    const err = intOrPercentError(value);
    if (err) invalid(`spec.strategy.rollingUpdate.${field}`, `Invalid value: ${JSON.stringify(value)}: ${err}`);
  }
  if (typeof maxUnavailable === 'string' && percent.test(maxUnavailable) && Number(percent.exec(maxUnavailable)![1]) > 100) {
    invalid('spec.strategy.rollingUpdate.maxUnavailable', `Invalid value: "${maxUnavailable}": must not be greater than 100%`);
  }
  if (isZero(maxSurge) && isZero(maxUnavailable)) {
    invalid('spec.strategy.rollingUpdate.maxUnavailable', 'Invalid value: may not be 0 when `maxSurge` is 0');
  }
}

const envVarName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

function podSpecErrors(spec: PodSpec | undefined, at: string, invalid: Invalid): void {
  if (!spec) return;
  const seen = new Set<string>();
  const hostPorts = new Set<string>();
  spec.containers.forEach((c, i) => {
    const here = `${at}.containers[${i}]`;
    const err = nameError(c.name, true);
    if (err) invalid(`${here}.name`, `Invalid value: "${c.name}": ${err}`);
    if (seen.has(c.name)) invalid(`${here}.name`, `Duplicate value: "${c.name}"`, 'FieldValueDuplicate');
    seen.add(c.name);
    const imageErr = imageReferenceError(c.image);
    if (imageErr) invalid(`${here}.image`, `Invalid value: "${c.image}": ${imageErr}`);
    (c.env ?? []).forEach((e, j) => {
      if (!envVarName.test(e.name)) {
        invalid(`${here}.env[${j}].name`, `Invalid value: "${e.name}": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit`);
      }
    });
    const portNames = new Set<string>();
    (c.ports ?? []).forEach((p, j) => {
      if (p.name !== undefined) {
        const nameErr = portNameError(p.name);
        if (nameErr) invalid(`${here}.ports[${j}].name`, `Invalid value: "${p.name}": ${nameErr}`);
        if (portNames.has(p.name)) invalid(`${here}.ports[${j}].name`, `Duplicate value: "${p.name}"`, 'FieldValueDuplicate');
        portNames.add(p.name);
      }
      if (!p.hostPort) return;
      const key = `${p.protocol ?? 'TCP'}/${p.hostPort}`;
      if (hostPorts.has(key)) invalid(`${here}.ports[${j}].hostPort`, `Duplicate value: "${key}"`, 'FieldValueDuplicate');
      hostPorts.add(key);
    });
    resourceErrors(c.resources, `${here}.resources`, invalid);
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
      const p = c[probe];
      if (!p) continue;
      for (const [handler, port] of [['httpGet', p.httpGet?.port], ['tcpSocket', p.tcpSocket?.port]] as const) {
        if (port === undefined) continue;
        const portErr = portOrNameError(port);
        if (portErr) invalid(`${here}.${probe}.${handler}.port`, `Invalid value: ${JSON.stringify(port)}: ${portErr}`);
      }
    }
  });
  labelErrors(spec.nodeSelector, `${at}.nodeSelector`, invalid);
  (spec.tolerations ?? []).forEach((t, i) => tolerationErrors(t, `${at}.tolerations[${i}]`, invalid));
}

function resourceErrors(resources: Container['resources'], at: string, invalid: Invalid): void {
  const parsed: Record<'limits' | 'requests', Map<string, number>> = { limits: new Map(), requests: new Map() };
  for (const kind of ['limits', 'requests'] as const) {
    for (const [name, q] of Object.entries(resources?.[kind] ?? {})) {
      const field = `${at}.${kind}[${name}]`;
      if (!isQuantity(q)) { invalid(field, `Invalid value: ${JSON.stringify(q)}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`); continue; }
      const value = quantityValue(q);
      if (value < 0) { invalid(field, `Invalid value: ${JSON.stringify(q)}: must be greater than or equal to 0`); continue; }
      parsed[kind].set(name, value);
    }
  }
  for (const [name, request] of parsed.requests) {
    const limit = parsed.limits.get(name);
    if (limit !== undefined && request > limit) {
      invalid(`${at}.requests`, `Invalid value: "${String(resources!.requests![name])}": must be less than or equal to ${name} limit of ${String(resources!.limits![name])}`);
    }
  }
}

function tolerationErrors(t: Toleration, at: string, invalid: Invalid): void {
  if (t.key) {
    const err = qualifiedNameError(t.key);
    if (err) invalid(`${at}.key`, `Invalid value: "${t.key}": ${err}`);
  } else if (t.operator !== 'Exists') {
    invalid(`${at}.operator`, `Invalid value: "${t.operator ?? ''}": operator must be Exists when \`key\` is empty, which means "match all values and all keys"`);
  }
  if (t.operator === 'Exists' && t.value) {
    invalid(`${at}.operator`, 'Invalid value: "Exists": value must be empty when `operator` is \'Exists\'');
  }
  if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') {
    invalid(`${at}.effect`, `Invalid value: "${t.effect ?? ''}": effect must be 'NoExecute' when \`tolerationSeconds\` is set`);
  }
}

function serviceErrors(spec: ServiceSpec, invalid: Invalid): void {
  const ports = spec.ports ?? [];
  const type = spec.type ?? 'ClusterIP';
  labelErrors(spec.selector, 'spec.selector', invalid);
  if (type === 'ExternalName') {
    if (!spec.externalName) invalid('spec.externalName', 'Required value', 'FieldValueRequired');
    else {
      const err = nameError(spec.externalName.replace(/\.$/, ''), false);
      if (err) invalid('spec.externalName', `Invalid value: "${spec.externalName}": ${err}`);
    }
  } else if (ports.length === 0 && spec.clusterIP !== 'None') {
    invalid('spec.ports', 'Required value', 'FieldValueRequired');
  }
  const names = new Set<string>();
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (p.name === undefined || p.name === '') {
      if (ports.length > 1) invalid(`${at}.name`, 'Required value', 'FieldValueRequired');
    } else {
      const err = nameError(p.name, true);
      if (err) invalid(`${at}.name`, `Invalid value: "${p.name}": ${err}`);
      if (names.has(p.name)) invalid(`${at}.name`, `Duplicate value: "${p.name}"`, 'FieldValueDuplicate');
      names.add(p.name);
    }
    const key = `${p.protocol ?? 'TCP'}/${p.port}`;
    if (seen.has(key)) invalid(`${at}`, `Duplicate value: {"port":${p.port},"protocol":"${p.protocol ?? 'TCP'}"}`, 'FieldValueDuplicate');
    seen.add(key);
    if (p.targetPort !== undefined && p.targetPort !== 0) {
      const err = portOrNameError(p.targetPort);
      if (err) invalid(`${at}.targetPort`, `Invalid value: ${JSON.stringify(p.targetPort)}: ${err}`);
    }
    if (p.nodePort && type !== 'NodePort' && type !== 'LoadBalancer') {
      invalid(`${at}.nodePort`, `Forbidden: may not be used when \`type\` is '${type}'`, 'FieldValueForbidden');
    }
  });
  (spec.externalIPs ?? []).forEach((ip, i) => {
    if (!isIPv4(ip)) invalid(`spec.externalIPs[${i}]`, `Invalid value: "${ip}": must be a valid IP address`);
  });
  if (spec.externalTrafficPolicy !== undefined && type !== 'NodePort' && type !== 'LoadBalancer') {
    invalid('spec.externalTrafficPolicy', `Invalid value: "${spec.externalTrafficPolicy}": may only be set when \`type\` is 'NodePort' or 'LoadBalancer'`);
  }
}

function nodeErrors(node: Node, invalid: Invalid): void {
  const spec = node.spec;
  const taints = new Set<string>();
  (spec?.taints ?? []).forEach((t, i) => {
    const keyErr = qualifiedNameError(t.key);
    if (keyErr) invalid(`spec.taints[${i}].key`, `Invalid value: "${t.key}": ${keyErr}`);
    const valueErr = t.value ? labelValueError(t.value) : undefined;
    if (valueErr) invalid(`spec.taints[${i}].value`, `Invalid value: "${t.value}": ${valueErr}`);
    const id = `${t.key}:${t.effect}`;
    if (taints.has(id)) invalid(`spec.taints[${i}]`, `Duplicate value: "${id}": taints must be unique by key and effect pair`, 'FieldValueDuplicate');
    taints.add(id);
  });
  if (spec?.podCIDR !== undefined && spec.podCIDR !== '' && !isIPv4Cidr(spec.podCIDR)) {
    invalid('spec.podCIDR', `Invalid value: "${spec.podCIDR}": must be a valid CIDR (e.g. 10.42.1.0/24)`);
  }
  (spec?.podCIDRs ?? []).forEach((cidr, i) => {
    if (!isIPv4Cidr(cidr)) invalid(`spec.podCIDRs[${i}]`, `Invalid value: "${cidr}": must be a valid CIDR (e.g. 10.42.1.0/24)`);
  });
  if (spec?.podCIDRs?.length && spec.podCIDR && spec.podCIDRs[0] !== spec.podCIDR) {
    invalid('spec.podCIDRs', 'Invalid value: the first entry must equal spec.podCIDR');
  }
  for (const kind of ['capacity', 'allocatable'] as const) {
    for (const [name, q] of Object.entries(node.status?.[kind] ?? {})) {
      if (!isQuantity(q) || quantityValue(q) < 0) invalid(`status.${kind}[${name}]`, `Invalid value: ${JSON.stringify(q)}: must be a non-negative quantity`);
    }
  }
}

// Kubernetes' MicroTime: RFC 3339 with up to microsecond (labkube accepts nanosecond) fractions.
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
function leaseErrors(spec: Lease['spec'], invalid: Invalid): void {
  for (const field of ['acquireTime', 'renewTime'] as const) {
    const t = spec?.[field];
    if (t !== undefined && (!microTime.test(t) || Number.isNaN(Date.parse(t)))) {
      invalid(`spec.${field}`, `Invalid value: "${t}": must be an RFC 3339 time, e.g. 2006-01-02T15:04:05.000000Z`);
    }
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
