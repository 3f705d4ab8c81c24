// The REST semantics of every resource, on top of the store: what create, update, patch and
// delete mean in Kubernetes (generateName, resourceVersion preconditions, generation, the status
// subresource, graceful deletion, finalizers), plus the binding and scale subresources. What is
// particular to one kind is its strategy's (api/kinds/*.ts), which this calls; the one exception
// is a Service's addresses, allocated here because that needs the store (see `services`).
// Every method is synchronous: the store is in-process, so a read-check-write cannot interleave.
import { randomUUID } from 'node:crypto';
import {
  AlreadyExistsError, ApiError, BadRequestError, ConflictError, ForbiddenError, InvalidError, MethodNotAllowedError, NotFoundError,
} from '../api/errors.ts';
import { matchesFields, parseFieldSelector } from '../api/fields.ts';
import { formatSelector, fromLabelSelector, matches, parseLabelSelector } from '../api/labels.ts';
import type { KubeList, KubeObject, LabelSelector } from '../api/meta.ts';
import { deepEqual, setCondition, timestamp } from '../api/objects.ts';
import { nameError } from '../api/kinds/checks.ts';
import { apiVersionOf, resourceFor, strategyFor, type ResourceType } from '../api/resources.ts';
import {
  applyDefaults, checkMetadataTypes, checkObjectSize, checkTypeMeta, maxObjectBytes, shapeErrors, unknownFields, validate,
} from '../api/validation.ts';
import { maxInt32 } from '../api/meta.ts';
import type { Scale } from '../api/apps.ts';
import type { Store } from '../store/types.ts';
import {
  applyConfiguration, applyPatchType, applyTracking, checkApplyConfiguration, updateTracking,
  type FieldManagerOptions, type FieldTracking,
} from './field-manager.ts';
import { applyPatch, type PatchType } from './patch.ts';
import { ServiceAllocator, type ServiceAllocatorOptions } from './service-allocator.ts';

export interface WriteResult { object: KubeObject; warnings: string[]; created?: boolean }

export interface ListOptions { labelSelector?: string; fieldSelector?: string; limit?: number; continue?: string }

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface WriteOptions { dryRun?: boolean; fields?: FieldManagerOptions }

/** What the API server's options configure in the registry. */
export type RegistryOptions = Pick<ServiceAllocatorOptions, 'serviceCidr' | 'nodePortRange'>;

const namespaces = resourceFor('', 'namespaces')!;
// Characters Kubernetes uses for generateName suffixes: no vowels, so no accidental words.
const suffixAlphabet = 'bcdfghjklmnpqrstvwxz2456789';
// A JavaScript Date ends in the year 275760; a grace period must leave a deletionTimestamp it can
// write. Kubernetes' int64 arithmetic would wrap instead; no lab waits a century for a pod.
const maxGracePeriodSeconds = 100 * 365 * 24 * 3600;

export const keyFor = (r: ResourceType, namespace: string | undefined, name: string): string =>
  `${prefixFor(r, namespace)}${name}`;

export const prefixFor = (r: ResourceType, namespace?: string): string =>
  `/${r.group ? `${r.group}/` : ''}${r.plural}/${r.namespaced && namespace ? `${namespace}/` : ''}`;

export class Registry {
  /**
   * A Service's cluster IP and node ports: allocating them needs what every other Service holds,
   * server state that Kubernetes keeps in the service REST storage, not in the kind's strategy;
   * so create and update call it for Services here.
   */
  readonly services: ServiceAllocator;

  constructor(readonly store: Store, readonly clock: () => Date = () => new Date(), options: RegistryOptions = {}) {
    this.services = new ServiceAllocator(store, options);
  }

  get(r: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.store.get(keyFor(r, namespace, name));
    if (!obj) throw notFound(r, name);
    return obj;
  }

  list(r: ResourceType, namespace: string | undefined, options: ListOptions = {}): KubeList {
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector, r.kind);
    const { items, revision } = this.store.list(prefixFor(r, namespace));
    let selected = items.filter((o) => matches(labels, o.metadata.labels) && matchesFields(fields, o));
    let next: string | undefined;
    if (options.continue) {
      const after = decodeContinue(options.continue);
      selected = selected.filter((o) => keyFor(r, o.metadata.namespace, o.metadata.name!) > after);
    }
    if (options.limit && options.limit > 0 && selected.length > options.limit) {
      selected = selected.slice(0, options.limit);
      const last = selected[selected.length - 1]!;
      next = Buffer.from(JSON.stringify({ k: keyFor(r, last.metadata.namespace, last.metadata.name!) })).toString('base64url');
    }
    return {
      apiVersion: apiVersionOf(r), kind: `${r.kind}List`,
      metadata: { resourceVersion: String(revision), ...(next && { continue: next }) },
      items: selected,
    };
  }

  /**
   * Every object of a kind, as the JSON text of a list, straight from the store's rows: a list with
   * no selector and no page (an informer's first list, the dashboard's) skips parsing and
   * re-serializing each object, most of its cost.
   */
  listJson(r: ResourceType, namespace: string | undefined): string {
    const { items, revision } = this.store.listJson(prefixFor(r, namespace));
    return `{"apiVersion":${JSON.stringify(apiVersionOf(r))},"kind":${JSON.stringify(`${r.kind}List`)},"metadata":{"resourceVersion":"${revision}"},"items":[${items.join(',')}]}`;
  }

  create(r: ResourceType, namespace: string | undefined, body: unknown, options: WriteOptions = {},
    tracking: FieldTracking = updateTracking(r, options.fields ?? {}, undefined)): WriteResult {
    const obj = asObject(body, r);
    const warnings = unknownFieldWarnings(r, obj);
    // Before placeInNamespace, which drops a cluster-scoped kind's namespace whatever its type.
    checkMetadataTypes(r.kind, obj);
    this.placeInNamespace(r, obj, namespace, 'create');
    applyDefaults(r, obj);
    // Validation first: it checks that generateName is a string and a valid name prefix.
    validate(r, obj);
    const meta = obj.metadata;
    if (!meta.name) meta.name = this.generateName(r, namespace, meta.generateName!);
    if (r.kind === 'Service') this.services.allocate(obj);
    const name = meta.name;
    const now = timestamp(this.clock());
    obj.apiVersion = apiVersionOf(r);
    obj.kind = r.kind;
    obj.metadata = {
      ...meta, uid: randomUUID(), creationTimestamp: now,
      ...(r.hasSpec && { generation: 1 }),
    };
    delete obj.metadata.resourceVersion;
    delete obj.metadata.deletionTimestamp;
    delete obj.metadata.deletionGracePeriodSeconds;
    prepareForCreate(r, obj, now);
    tracking.record(undefined, obj, obj.metadata.managedFields, now);
    checkObjectSize(obj, r.kind, name);
    if (options.dryRun) return { object: obj, warnings };
    try {
      return { object: this.store.create(keyFor(r, namespace, name), obj), warnings };
    } catch (err) {
      if (err instanceof AlreadyExistsError) throw alreadyExists(r, name);
      throw err;
    }
  }

  /** PUT: replaces the object (or, for a subresource, only its part), honouring resourceVersion. */
  update(r: ResourceType, namespace: string | undefined, name: string, body: unknown, subresource?: string,
    options: WriteOptions = {}): WriteResult {
    const incoming = asObject(body, r);
    // As Kubernetes' update handler: a body without the name (`{}`) is not this object either,
    // so it cannot wipe the object's labels, spec and status.
    checkNameMatches(incoming.metadata.name, name);
    if (subresource !== 'status' && subresource !== 'finalize') checkTypeMeta(r, incoming);
    checkMetadataTypes(r.kind, incoming);
    const warnings = unknownFieldWarnings(r, incoming);
    this.placeInNamespace(r, incoming, namespace, 'update');
    const current = this.get(r, namespace, name);
    const expected = incoming.metadata.resourceVersion;
    if (expected !== undefined && expected !== '' && expected !== current.metadata.resourceVersion) throw conflict(r, name);
    const next = mergeForUpdate(r, current, incoming, subresource);
    return { object: this.commit(r, namespace, current, next, options, incoming.metadata.managedFields, subresource), warnings };
  }

  patch(r: ResourceType, namespace: string | undefined, name: string, type: PatchType | typeof applyPatchType, patch: unknown,
    subresource?: string, options: WriteOptions = {}): WriteResult {
    if (type === applyPatchType) return this.apply(r, namespace, name, patch, subresource, options);
    const current = this.get(r, namespace, name);
    if (subresource === 'scale') return { object: this.patchScale(r, current, type, patch, options), warnings: [] };
    const patched = applyPatch(type, current, patch, maxObjectBytes) as KubeObject;
    const incoming = asObject(patched, r);
    if (incoming.metadata.name !== name) throw new BadRequestError('a patch may not change metadata.name');
    checkTypeMeta(r, incoming);
    checkMetadataTypes(r.kind, incoming);
    this.placeInNamespace(r, incoming, namespace, 'update');
    const expected = incoming.metadata.resourceVersion;
    if (expected !== undefined && expected !== current.metadata.resourceVersion) throw conflict(r, name);
    const next = mergeForUpdate(r, current, incoming, subresource);
    return { object: this.commit(r, namespace, current, next, options, incoming.metadata.managedFields, subresource),
      warnings: unknownFieldWarnings(r, incoming) };
  }

  /**
   * Server-side apply (field-manager.ts): merges the configuration into the object, or creates it
   * from the configuration when there is none, and records the manager's fields.
   */
  private apply(r: ResourceType, namespace: string | undefined, name: string, body: unknown, subresource: string | undefined,
    options: WriteOptions): WriteResult {
    if (subresource === 'scale') throw new BadRequestError('labkube does not serve server-side apply on the scale subresource: apply spec.replicas to the object');
    const config = asObject(body, r);
    checkNameMatches(config.metadata.name, name);
    checkTypeMeta(r, config);
    checkMetadataTypes(r.kind, config);
    const manager = options.fields?.fieldManager ?? '';
    const configSet = checkApplyConfiguration(r, config, subresource);
    const tracking = applyTracking(r, manager, config, configSet, subresource, options.fields?.force ?? false);
    const current = this.store.get(keyFor(r, namespace, name));
    if (!current) {
      if (subresource) throw notFound(r, name);
      return { ...this.create(r, namespace, config, options, tracking), created: true };
    }
    this.placeInNamespace(r, config, namespace, 'update');
    const expected = config.metadata.resourceVersion;
    if (expected !== undefined && expected !== current.metadata.resourceVersion) throw conflict(r, name);
    const next = mergeForUpdate(r, current, applyConfiguration(r, current, config, configSet, manager, subresource), subresource);
    return { object: this.commit(r, namespace, current, next, options, undefined, subresource, tracking), warnings: unknownFieldWarnings(r, config) };
  }

  /**
   * DELETE. Objects with finalizers, and pods running on a node, get a deletionTimestamp and stay
   * until their finalizers are gone (or the node's agent confirms the pod stopped).
   */
  delete(r: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): { object: KubeObject; pending: boolean } {
    const key = keyFor(r, namespace, name);
    const current = this.get(r, namespace, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== current.metadata.uid) {
      throw new ConflictError(`Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw new ConflictError(`Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`);
    }
    const requested = options.gracePeriodSeconds;
    if (requested !== undefined && (!Number.isSafeInteger(requested) || requested > maxGracePeriodSeconds)) {
      throw new InvalidError('DeleteOptions', name, [{ reason: 'FieldValueInvalid', field: 'gracePeriodSeconds',
        message: `Invalid value: ${requested}: must be an integer no greater than ${maxGracePeriodSeconds}` }]);
    }
    const strategy = strategyFor(r);
    const next = structuredClone(current);
    const finalizers = new Set(next.metadata.finalizers ?? []);
    if (options.propagationPolicy === 'Orphan') finalizers.add('orphan');
    if (options.propagationPolicy === 'Foreground') finalizers.add('foregroundDeletion');
    if (finalizers.size > 0) next.metadata.finalizers = [...finalizers];
    const grace = Math.min(maxGracePeriodSeconds, strategy.gracePeriodSeconds?.(current, options.gracePeriodSeconds) ?? 0);
    const now = this.clock();
    if (!next.metadata.deletionTimestamp || grace < (current.metadata.deletionGracePeriodSeconds ?? Infinity)) {
      next.metadata.deletionTimestamp = timestamp(new Date(now.getTime() + grace * 1000));
      next.metadata.deletionGracePeriodSeconds = grace;
    }
    strategy.prepareForDelete?.(next);
    const waiting = (next.metadata.finalizers?.length ?? 0) > 0 || grace > 0 || !(strategy.readyToRemove?.(next) ?? true);
    if (options.dryRun) return { object: next, pending: waiting };
    if (waiting) return { object: this.store.update(key, next, revisionOf(current)), pending: true };
    return { object: this.store.delete(key, revisionOf(current)), pending: false };
  }

  deleteCollection(r: ResourceType, namespace: string | undefined, list: ListOptions, options: DeleteOptions): KubeList {
    const items = this.list(r, namespace, list).items.map((o) => this.delete(r, o.metadata.namespace, o.metadata.name!, options).object);
    return { apiVersion: apiVersionOf(r), kind: `${r.kind}List`, metadata: { resourceVersion: String(this.store.revision()) }, items };
  }

  /** POST pods/NAME/binding: the scheduler's one way to set spec.nodeName. */
  bind(namespace: string, name: string, body: unknown): KubeObject {
    const pods = resourceFor('', 'pods')!;
    const target = (body as { target?: { name?: unknown } } | null)?.target?.name;
    if (typeof target !== 'string' || target === '') {
      throw new InvalidError('Binding', name, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'target.name' }]);
    }
    const current = this.get(pods, namespace, name);
    const spec = current.spec as { nodeName?: string };
    if (spec.nodeName) throw new ConflictError(`Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${spec.nodeName}"`);
    if (current.metadata.deletionTimestamp) throw new ConflictError(`Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is being deleted`);
    const targetErr = nameError(target, false);
    if (targetErr) throw new InvalidError('Binding', name, [{ reason: 'FieldValueInvalid', message: `Invalid value: "${target}": ${targetErr}`, field: 'target.name' }]);
    const next = structuredClone(current);
    (next.spec as { nodeName?: string }).nodeName = target;
    const status = (next.status ?? {}) as { conditions?: Parameters<typeof setCondition>[0] };
    status.conditions = setCondition(status.conditions, { type: 'PodScheduled', status: 'True' }, timestamp(this.clock()));
    next.status = status;
    return this.store.update(keyFor(pods, namespace, name), next, revisionOf(current));
  }

  getScale(r: ResourceType, namespace: string, name: string): Scale {
    return toScale(this.get(r, namespace, name));
  }

  updateScale(r: ResourceType, namespace: string, name: string, body: unknown, options: WriteOptions = {}): Scale {
    // A Scale without a name is taken as this one's (labkube's tests and clients send only spec);
    // one naming another object, or naming it with a number, is refused as Kubernetes does.
    const bodyName = (body as Partial<Scale> | null)?.metadata?.name;
    if (bodyName !== undefined) checkNameMatches(bodyName, name);
    const current = this.get(r, namespace, name);
    return toScale(this.setReplicas(r, current, body, options));
  }

  private patchScale(r: ResourceType, current: KubeObject, type: PatchType, patch: unknown, options: WriteOptions): KubeObject {
    const scale = applyPatch(type, toScale(current), patch) as Partial<Scale> | null;
    checkNameMatches(scale?.metadata?.name, current.metadata.name!);
    return toScale(this.setReplicas(r, current, scale, options)) as unknown as KubeObject;
  }

  private setReplicas(r: ResourceType, current: KubeObject, body: unknown, options: WriteOptions): KubeObject {
    const scale = body as Partial<Scale> | null;
    if (scale === null || typeof scale !== 'object' || Array.isArray(scale)) throw new BadRequestError('the body of the request must be a Scale object');
    if (scale.kind !== undefined && scale.kind !== 'Scale') {
      throw new BadRequestError(`the kind in the data (${String(scale.kind)}) does not match the expected kind (Scale)`);
    }
    if (scale.apiVersion !== undefined && scale.apiVersion !== 'autoscaling/v1') {
      throw new BadRequestError(`the API version in the data (${String(scale.apiVersion)}) does not match the expected API version (autoscaling/v1)`);
    }
    const replicas = scale.spec?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > maxInt32) {
      throw new InvalidError('Scale', current.metadata.name!, [{ reason: 'FieldValueInvalid', field: 'spec.replicas',
        message: `Invalid value: ${JSON.stringify(replicas ?? null)}: must be an integer between 0 and ${maxInt32}, inclusive` }]);
    }
    const rv = scale?.metadata?.resourceVersion;
    if (rv && rv !== current.metadata.resourceVersion) throw conflict(r, current.metadata.name!);
    const next = structuredClone(current);
    (next.spec as { replicas?: number }).replicas = replicas;
    return this.commit(r, current.metadata.namespace, current, mergeForUpdate(r, current, next, undefined), options, undefined, 'scale');
  }

  /**
   * Writes `next` over `current` unless nothing changed; removes it once it is fully finalized.
   * `incomingManagedFields` are those the client's body carried (absent: the stored ones stand).
   */
  private commit(r: ResourceType, namespace: string | undefined, current: KubeObject, next: KubeObject, options: WriteOptions,
    incomingManagedFields: unknown, subresource: string | undefined,
    tracking: FieldTracking = updateTracking(r, options.fields ?? {}, subresource)): KubeObject {
    applyDefaults(r, next);
    if (r.kind === 'Service') this.services.prepareForUpdate(current, next);
    validate(r, next);
    // Update rules compare shapes, so they run once validation has vouched for them.
    strategyFor(r).validateUpdate?.(current, next);
    if (r.kind === 'Service') this.services.allocate(next, current);
    tracking.record(current, next, incomingManagedFields, timestamp(this.clock()));
    checkObjectSize(next, r.kind, current.metadata.name!);
    if (r.hasSpec && !deepEqual(current.spec, next.spec)) next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    const key = keyFor(r, namespace, current.metadata.name!);
    const unchanged = deepEqual({ ...next, metadata: { ...next.metadata, resourceVersion: undefined } },
      { ...current, metadata: { ...current.metadata, resourceVersion: undefined } });
    if (unchanged || options.dryRun) return unchanged ? current : next;
    if (readyToRemove(r, next)) return this.store.delete(key, revisionOf(current));
    return this.store.update(key, next, revisionOf(current));
  }

  private placeInNamespace(r: ResourceType, obj: KubeObject, namespace: string | undefined, verb: 'create' | 'update'): void {
    if (!r.namespaced) {
      delete obj.metadata.namespace;
      return;
    }
    if (!namespace) throw new BadRequestError(`${r.plural} must be ${verb}d in a namespace`);
    if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== namespace) {
      throw new BadRequestError('the namespace of the provided object does not match the namespace sent on the request');
    }
    obj.metadata.namespace = namespace;
    if (verb !== 'create') return;
    const ns = this.store.get(keyFor(namespaces, undefined, namespace));
    if (!ns) throw notFound(namespaces, namespace);
    if (ns.metadata.deletionTimestamp) {
      throw new ForbiddenError(`${r.plural} "${obj.metadata.name ?? obj.metadata.generateName ?? ''}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private generateName(r: ResourceType, namespace: string | undefined, base: string): string {
    // Kubernetes truncates the base so the name stays within 63 characters, then adds 5 random ones.
    const prefix = base.slice(0, 58);
    for (let attempt = 0; attempt < 10; attempt++) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += suffixAlphabet[Math.floor(Math.random() * suffixAlphabet.length)];
      if (!this.store.get(keyFor(r, namespace, prefix + suffix))) return prefix + suffix;
    }
    throw alreadyExists(r, `${prefix}*`);
  }
}

const revisionOf = (obj: KubeObject) => Number(obj.metadata.resourceVersion);

function notFound(r: ResourceType, name: string): NotFoundError {
  return new NotFoundError(`${qualified(r)} "${name}" not found`, { name, group: r.group, kind: r.plural });
}
function alreadyExists(r: ResourceType, name: string): ApiError {
  return new AlreadyExistsError(`${qualified(r)} "${name}" already exists`, { name, group: r.group, kind: r.plural });
}
function conflict(r: ResourceType, name: string): ConflictError {
  return new ConflictError(`Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: r.group, kind: r.plural });
}
const qualified = (r: ResourceType) => (r.group ? `${r.plural}.${r.group}` : r.plural);

/** A PUT body (or a patched Scale) names the object of the URL, as Kubernetes' checkName. */
function checkNameMatches(bodyName: unknown, name: string): void {
  if (bodyName === name) return;
  const shown = bodyName === undefined || bodyName === null ? '' : typeof bodyName === 'string' ? bodyName : JSON.stringify(bodyName);
  throw new BadRequestError(`the name of the object (${shown}) does not match the name on the URL (${name})`);
}

function asObject(body: unknown, r: ResourceType): KubeObject {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequestError(`the body of the request must be a ${r.kind} object`);
  }
  // Refuse an oversized object before cloning, defaulting and validating it: each of those costs
  // far more than encoding it once.
  const name = (body as { metadata?: { name?: unknown } }).metadata?.name;
  checkObjectSize(body, r.kind, typeof name === 'string' ? name : '');
  // Here as well as in validation: an update may drop the part of the body holding such a value
  // (a Namespace's spec), and it must not turn the request into a 200.
  const notJson = shapeErrors(undefined, body)[0];
  if (notJson) throw new BadRequestError(`the body is not valid JSON${notJson.field ? ` at ${notJson.field}` : ''}: ${notJson.message}`);
  const obj = structuredClone(body) as KubeObject;
  if (obj.metadata === undefined) obj.metadata = {};
  if (obj.metadata === null || typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) {
    throw new InvalidError(r.kind, '', [{ reason: 'FieldValueInvalid', message: 'Invalid value: must be an object', field: 'metadata' }]);
  }
  return obj;
}

function unknownFieldWarnings(r: ResourceType, obj: KubeObject): string[] {
  return unknownFields(r.schema, obj).map((field) => `unknown field "${field}"`);
}

/** The status a new object starts with: the strategy's, or else an empty one for a kind that has one. */
function prepareForCreate(r: ResourceType, obj: KubeObject, now: string): void {
  const strategy = strategyFor(r);
  if (strategy.prepareForCreate) strategy.prepareForCreate(obj, now);
  else if (r.subresources.includes('status')) obj.status = {};
}

/**
 * What a write may change. A main-resource write keeps the status (that is the status
 * subresource's job) and the fields the server owns; a status write changes only the status;
 * `finalize` changes only a namespace's spec.finalizers.
 */
function mergeForUpdate(r: ResourceType, current: KubeObject, incoming: KubeObject, subresource: string | undefined): KubeObject {
  if (subresource && subresource !== 'status' && subresource !== 'finalize') {
    throw new MethodNotAllowedError(`the ${subresource} subresource of ${r.plural} cannot be written this way`);
  }
  if (subresource === 'status') {
    // Kubernetes decodes a missing status as an empty one and would wipe it (a pod's podIP and
    // phase with it). A status write without a status is a client bug: say so instead.
    if (incoming.status === undefined || incoming.status === null) {
      throw new InvalidError(r.kind, current.metadata.name!, [{ reason: 'FieldValueRequired', field: 'status', message: 'Required value: a write to the status subresource must carry `status`' }]);
    }
    return { ...structuredClone(current), status: incoming.status };
  }
  if (subresource === 'finalize') {
    return { ...structuredClone(current), spec: { ...(current.spec as object), finalizers: (incoming.spec as { finalizers?: string[] } | undefined)?.finalizers ?? [] } };
  }
  const keep = current.metadata;
  const next: KubeObject = {
    ...incoming,
    apiVersion: current.apiVersion,
    kind: current.kind,
    metadata: {
      ...incoming.metadata,
      namespace: keep.namespace, uid: keep.uid, creationTimestamp: keep.creationTimestamp,
      resourceVersion: keep.resourceVersion, generation: keep.generation,
      deletionTimestamp: keep.deletionTimestamp, deletionGracePeriodSeconds: keep.deletionGracePeriodSeconds,
    },
  };
  for (const k of ['namespace', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
    if (next.metadata[k] === undefined) delete next.metadata[k];
  }
  if (r.subresources.includes('status')) next.status = current.status;
  strategyFor(r).prepareForUpdate?.(current, next);
  return next;
}

/** Deleted, no finalizers left, and nothing else its kind waits for (a pod's node, a namespace's contents). */
function readyToRemove(r: ResourceType, obj: KubeObject): boolean {
  const meta = obj.metadata;
  if (!meta.deletionTimestamp || (meta.finalizers?.length ?? 0) > 0) return false;
  return strategyFor(r).readyToRemove?.(obj) ?? true;
}

function toScale(obj: KubeObject): Scale {
  const spec = obj.spec as { replicas?: number; selector?: LabelSelector };
  const status = obj.status as { replicas?: number } | undefined;
  return {
    apiVersion: 'autoscaling/v1', kind: 'Scale',
    metadata: { name: obj.metadata.name!, namespace: obj.metadata.namespace!, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion, creationTimestamp: obj.metadata.creationTimestamp },
    spec: { replicas: spec.replicas ?? 1 },
    status: { replicas: status?.replicas ?? 0, selector: formatSelector(fromLabelSelector(spec.selector)) },
  };
}

function decodeContinue(token: string): string {
  try {
    const { k } = JSON.parse(Buffer.from(token, 'base64url').toString()) as { k?: unknown };
    if (typeof k === 'string') return k;
  } catch { /* fall through to the error below: a malformed token is the client's mistake */ }
  throw new BadRequestError('invalid continue token');
}

