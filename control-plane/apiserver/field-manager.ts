// Server-side apply and the bookkeeping behind it: `metadata.managedFields`, which manager owns
// which fields, as Kubernetes' fieldmanager package keeps them (an Apply entry per applier, an
// Update entry per writer and subresource).
//
// - Apply (`PATCH` with application/apply-patch+yaml) merges the configuration into the live
//   object, removes what the same manager applied last time and nobody owns now, and fails
//   with 409 when it would change a field another manager owns, unless forced, in which case it
//   takes the field over.
// - Any other write records what it changed under its manager (`?fieldManager=`, or the
//   client's User-Agent up to its first "/") and takes those fields from other managers.
//
// An object made with client-side `kubectl apply` moves to server-side apply as on Kubernetes
// (lastappliedmanager.go, lastappliedupdater.go): an apply by the manager "kubectl" may take
// over, without a conflict, the fields its kubectl.kubernetes.io/last-applied-configuration set
// and that still hold those values, and it keeps that annotation up to date; kubectl then moves
// the client-side manager's fields to itself by rewriting managedFields.
//
// Kubernetes records every write. labkube records a write that names its field manager (kubectl
// does, for create, edit, scale, label, client-side apply...) or touches an object that already
// has managed fields. Its own controllers, scheduler and agents name none, so a pod a
// ReplicaSet made and a board's Node carry no managedFields: their status writes stay small on
// an SD card, and a list of 1,500 pods does not double in size for bookkeeping no one applies to.
import { BadRequestError, ConflictError, InvalidError } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { canonicalJson, deepEqual } from '../api/objects.ts';
import type { ResourceType } from '../api/resources.ts';
import { compare, fieldSetOf, FieldSet, isObject, merge, pathString, prune, type JsonObject } from './fieldset.ts';

export const applyPatchType = 'application/apply-patch+yaml';

/** What a write says about who makes it (from the request's query and User-Agent). */
export interface FieldManagerOptions {
  /** `?fieldManager=`; required for apply. */
  fieldManager?: string;
  /** The manager for a write that names none: the User-Agent's product, as Kubernetes derives it. */
  userAgent?: string;
  /** `?force=true`: an apply takes over fields other managers own instead of failing. */
  force?: boolean;
}

interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

interface Manager { entry: Omit<ManagedFieldsEntry, 'fieldsV1'>; set: FieldSet }

/** Kubernetes' limit on a field manager's name (ValidateFieldManager). */
const maxManagerLength = 128;

/** The manager a write is recorded under: `fieldManager`, else the User-Agent's first word. */
export function managerName(o: FieldManagerOptions): string {
  if (o.fieldManager !== undefined) return o.fieldManager;
  // prefixFromUserAgent: "kubectl/v1.31.0 (linux/amd64)" is "kubectl"; only printable characters.
  return (o.userAgent ?? '').split('/')[0]!.replace(/[^\x20-\x7e]/g, '').slice(0, maxManagerLength);
}

/** Checks `fieldManager` and `force` as ValidatePatchOptions and friends do. */
export function checkFieldManagerOptions(o: FieldManagerOptions, optionsKind: string, apply: boolean): void {
  const fail = (reason: string, field: string, message: string) => {
    throw new InvalidError(optionsKind, '', [{ reason, field, message }]);
  };
  const m = o.fieldManager;
  if (m !== undefined) {
    if (m.length > maxManagerLength) fail('FieldValueTooLong', 'fieldManager', `Too long: may not be more than ${maxManagerLength} bytes`);
    if (/[^\x20-\x7e]/.test(m)) fail('FieldValueInvalid', 'fieldManager', `Invalid value: ${JSON.stringify(m)}: must only contain printable characters`);
  }
  if (apply && !m) fail('FieldValueRequired', 'fieldManager', 'Required value: is required for apply patch');
  if (!apply && o.force !== undefined) fail('FieldValueForbidden', 'force', 'Forbidden: may not be specified for non-apply patch');
}

/** The parts of an object no manager owns: identity and what the server sets. */
function ownable(obj: KubeObject, r: ResourceType, subresource: string | undefined): JsonObject {
  const { apiVersion: _v, kind: _k, metadata, status, ...rest } = obj as unknown as JsonObject & { metadata: JsonObject };
  if (subresource === 'status') return status === undefined ? {} : { status };
  const {
    name: _n, namespace: _ns, uid: _u, resourceVersion: _rv, generation: _g, creationTimestamp: _c, selfLink: _s,
    managedFields: _m, deletionTimestamp: _d, deletionGracePeriodSeconds: _dg, ...ownedMeta
  } = isObject(metadata) ? metadata : {};
  const out: JsonObject = { ...rest };
  if (Object.keys(ownedMeta).length > 0) out.metadata = ownedMeta;
  // A kind with a status subresource resets status on writes to the main resource.
  if (status !== undefined && !r.subresources.includes('status')) out.status = status;
  return out;
}

/** `metadata.managedFields` as managers; a malformed list is the client's error (422). */
function decode(raw: unknown, kind: string, name: string): Manager[] {
  if (raw === undefined || raw === null) return [];
  const invalid = (i: number, message: string) =>
    new InvalidError(kind, name, [{ reason: 'FieldValueInvalid', field: `metadata.managedFields[${i}]`, message: `Invalid value: ${message}` }]);
  if (!Array.isArray(raw)) throw new InvalidError(kind, name, [{ reason: 'FieldValueInvalid', field: 'metadata.managedFields', message: 'Invalid value: must be a list' }]);
  const seen = new Set<string>();
  return raw.map((e: unknown, i) => {
    if (!isObject(e)) throw invalid(i, 'must be an object');
    if (typeof e.manager !== 'string') throw invalid(i, 'manager must be a string');
    if (e.operation !== 'Apply' && e.operation !== 'Update') throw invalid(i, `operation must be "Apply" or "Update", not ${JSON.stringify(e.operation ?? null)}`);
    if (e.fieldsType !== undefined && e.fieldsType !== 'FieldsV1') throw invalid(i, `fieldsType must be "FieldsV1", not ${JSON.stringify(e.fieldsType)}`);
    for (const field of ['apiVersion', 'time', 'subresource'] as const) {
      if (e[field] !== undefined && e[field] !== null && typeof e[field] !== 'string') throw invalid(i, `${field} must be a string`);
    }
    let set: FieldSet;
    try {
      set = e.fieldsV1 === undefined || e.fieldsV1 === null ? new FieldSet() : FieldSet.fromJSON(e.fieldsV1);
    } catch (err) {
      throw invalid(i, `fieldsV1 ${(err as Error).message}`);
    }
    const entry: Manager['entry'] = {
      manager: e.manager, operation: e.operation, apiVersion: typeof e.apiVersion === 'string' ? e.apiVersion : '', fieldsType: 'FieldsV1',
      ...(typeof e.time === 'string' && { time: e.time }), ...(typeof e.subresource === 'string' && e.subresource && { subresource: e.subresource }),
    };
    const id = identity(entry);
    if (seen.has(id)) throw invalid(i, `duplicate entry for manager ${JSON.stringify(e.manager)} (${e.operation})`);
    seen.add(id);
    return { entry, set };
  });
}

/** Entries are one per applier, and one per writer, version and subresource (BuildManagerIdentifier). */
const identity = (e: Manager['entry']) =>
  JSON.stringify([e.manager, e.operation, e.operation === 'Update' ? e.apiVersion : '', e.subresource ?? '']);

/** Apply entries first, then by time, then by name, as Kubernetes sorts them. */
function encode(managers: Manager[]): ManagedFieldsEntry[] | undefined {
  const live = managers.filter((m) => !m.set.empty);
  if (live.length === 0) return undefined;
  live.sort((a, b) => a.entry.operation.localeCompare(b.entry.operation) ||
    (a.entry.time ?? '').localeCompare(b.entry.time ?? '') || a.entry.manager.localeCompare(b.entry.manager));
  return live.map((m) => ({ ...m.entry, fieldsV1: m.set.toJSON() }));
}

/** Kubernetes keeps at most 10 Update entries (capmanagers.go); the oldest merge into one. */
const maxUpdateManagers = 10;
const ancientChanges = 'ancient-changes';

function capUpdateManagers(managers: Manager[]): Manager[] {
  const updates = managers.filter((m) => m.entry.operation === 'Update' && !m.set.empty);
  if (updates.length <= maxUpdateManagers) return managers;
  let bucket = updates.find((m) => m.entry.manager === ancientChanges);
  const rest = updates.filter((m) => m !== bucket).sort((a, b) => (a.entry.time ?? '').localeCompare(b.entry.time ?? ''));
  while (rest.length + (bucket ? 1 : 0) > maxUpdateManagers) {
    const oldest = rest.shift()!;
    bucket = bucket
      ? { entry: bucket.entry, set: bucket.set.union(oldest.set) }
      : { entry: { ...oldest.entry, manager: ancientChanges, subresource: undefined }, set: oldest.set };
    if (bucket.entry.subresource === undefined) delete bucket.entry.subresource;
  }
  return [...managers.filter((m) => m.entry.operation === 'Apply'), ...rest, bucket!];
}

function setManagedFields(obj: KubeObject, managers: Manager[]): void {
  const encoded = encode(capUpdateManagers(managers));
  if (encoded) obj.metadata.managedFields = encoded;
  else delete obj.metadata.managedFields;
}

/**
 * An applied configuration, checked as Kubernetes checks one: a whole object of this kind, named,
 * without managedFields; and its field set (which also proves its list keys unique and present).
 */
export function checkApplyConfiguration(r: ResourceType, config: KubeObject, subresource: string | undefined): FieldSet {
  if (!config.apiVersion) throw new BadRequestError('apiVersion must be set in an applied configuration');
  if (!config.kind) throw new BadRequestError('kind must be set in an applied configuration');
  if (config.metadata.managedFields !== undefined && config.metadata.managedFields !== null) {
    throw new BadRequestError('metadata.managedFields must be nil in an applied configuration');
  }
  return fieldSetOf(ownable(config, r, subresource));
}

/**
 * The object an apply produces from the live one, before defaults and validation: the
 * configuration merged in, and what this manager applied last time and nobody owns now removed.
 */
export function applyConfiguration(r: ResourceType, live: KubeObject, config: KubeObject, configSet: FieldSet, manager: string,
  subresource: string | undefined): KubeObject {
  const managers = decode(live.metadata.managedFields, r.kind, live.metadata.name!);
  const me = identity(applyEntry(manager, '', subresource));
  const last = managers.find((m) => identity(m.entry) === me)?.set;
  const { managedFields: _drop, ...configMeta } = config.metadata;
  const merged = merge(live as unknown as JsonObject, { ...config, metadata: configMeta } as unknown as JsonObject) as unknown as KubeObject;
  if (!last) return merged;
  let owned = configSet.clone();
  for (const m of managers) if (identity(m.entry) !== me) owned = owned.union(m.set);
  // prune only looks at fields this manager applied before, and the object's identity is not
  // among them, so it can work on the whole object.
  return prune(merged as unknown as JsonObject, last, owned) as unknown as KubeObject;
}

const applyEntry = (manager: string, apiVersion: string, subresource: string | undefined): Manager['entry'] => ({
  manager, operation: 'Apply', apiVersion, fieldsType: 'FieldsV1', ...(subresource && { subresource }),
});

/** What the registry does with managed fields on one write, once `next` is defaulted and valid. */
export interface FieldTracking {
  /** Sets next.metadata.managedFields; throws 409 for an apply that conflicts. */
  record(current: KubeObject | undefined, next: KubeObject, incomingManagedFields: unknown, now: string): void;
}

/** Tracking for an apply by `manager` of `config`, whose fields are `configSet`. */
export function applyTracking(r: ResourceType, manager: string, config: KubeObject, configSet: FieldSet, subresource: string | undefined,
  force: boolean): FieldTracking {
  return {
    record(current, next, _incoming, now) {
      const managers = current ? decode(current.metadata.managedFields, r.kind, current.metadata.name!) : [];
      const cmp = compare(current ? ownable(current, r, subresource) : {}, ownable(next, r, subresource));
      const me = applyEntry(manager, next.apiVersion, subresource);
      const myId = identity(me);
      let conflicts: { manager: Manager; taken: FieldSet }[] = [];
      for (const m of managers) {
        if (identity(m.entry) === myId) continue;
        const taken = m.set.intersection(cmp.changed);
        if (!taken.empty) conflicts.push({ manager: m, taken });
      }
      const lastApplied = manager === kubectlManager && current ? lastAppliedFields(r, current) : undefined;
      if (lastApplied) {
        conflicts = conflicts.map((c) => ({ ...c, taken: c.taken.difference(lastApplied) })).filter((c) => !c.taken.empty);
      }
      if (conflicts.length > 0 && !force) throw conflictError(r, next.metadata.name!, conflicts);
      if (current?.metadata.annotations?.[lastAppliedAnnotation] !== undefined && manager === kubectlManager && !subresource) {
        next.metadata.annotations = { ...next.metadata.annotations, [lastAppliedAnnotation]: buildLastApplied(config) };
      }
      const others = managers.filter((m) => identity(m.entry) !== myId)
        .map((m) => ({ entry: m.entry, set: m.set.difference(cmp.changed).difference(cmp.removed) }));
      const previous = managers.find((m) => identity(m.entry) === myId);
      const changed = !cmp.changed.empty || !cmp.removed.empty || !previous || !previous.set.equals(configSet);
      const mine: Manager = { entry: { ...me, time: changed || !previous?.entry.time ? now : previous.entry.time }, set: configSet };
      setManagedFields(next, [...others, mine]);
    },
  };
}

/**
 * Tracking for any other write (create, update, patch): the writer takes the fields it changed.
 * Managed fields the client sent replace the stored ones (kubectl rewrites them when it moves an
 * object from client-side to server-side apply); an empty list clears them.
 */
export function updateTracking(r: ResourceType, o: FieldManagerOptions, subresource: string | undefined): FieldTracking {
  return {
    record(current, next, incoming, now) {
      if (Array.isArray(incoming) && incoming.length === 0) { delete next.metadata.managedFields; return; }
      const sent = incoming !== undefined && incoming !== null && !deepEqual(incoming, current?.metadata.managedFields);
      const managers = decode(sent ? incoming : current?.metadata.managedFields, r.kind, next.metadata.name ?? '');
      if (managers.length === 0 && o.fieldManager === undefined) { delete next.metadata.managedFields; return; }
      const cmp = compare(current ? ownable(current, r, subresource) : {}, ownable(next, r, subresource));
      const me: Manager['entry'] = {
        manager: managerName(o), operation: 'Update', apiVersion: next.apiVersion, fieldsType: 'FieldsV1', ...(subresource && { subresource }),
      };
      const myId = identity(me);
      const result: Manager[] = [];
      let mine: Manager | undefined;
      for (const m of managers) {
        if (identity(m.entry) === myId) mine = m;
        else result.push({ entry: m.entry, set: m.set.difference(cmp.changed).difference(cmp.removed) });
      }
      const objectChanged = !cmp.changed.empty || !cmp.removed.empty;
      const set = (mine?.set ?? new FieldSet()).difference(cmp.removed).union(cmp.changed);
      set.compact();
      const time = objectChanged || !mine?.entry.time ? now : mine.entry.time;
      result.push({ entry: { ...me, time }, set });
      setManagedFields(next, result);
    },
  };
}

const kubectlManager = 'kubectl';
const lastAppliedAnnotation = 'kubectl.kubernetes.io/last-applied-configuration';

/** The fields client-side apply last set on `live` that still hold the values it set. */
function lastAppliedFields(r: ResourceType, live: KubeObject): FieldSet | undefined {
  const text = live.metadata.annotations?.[lastAppliedAnnotation];
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) return undefined;
    const applied = ownable(parsed as unknown as KubeObject, r, undefined);
    const cmp = compare(applied, ownable(live, r, undefined));
    return fieldSetOf(applied).difference(cmp.changed).difference(cmp.removed);
  } catch {
    return undefined; // an annotation that is not a configuration allows nothing
  }
}

/** The annotation's new value, as kubectl would write it for this configuration (Go's encoding: sorted keys, a newline). */
function buildLastApplied(config: KubeObject): string {
  const { [lastAppliedAnnotation]: _drop, ...annotations } = config.metadata.annotations ?? {};
  return `${canonicalJson({ ...config, metadata: { ...config.metadata, annotations } })}\n`;
}

/** 409 naming each conflicting field and its manager, as NewConflictError writes it. */
function conflictError(r: ResourceType, name: string, conflicts: { manager: Manager; taken: FieldSet }[]): ConflictError {
  const shown = (m: Manager) => {
    let s = JSON.stringify(m.entry.manager);
    if (m.entry.subresource) s += ` with subresource ${JSON.stringify(m.entry.subresource)}`;
    if (m.entry.operation === 'Update') s += ` using ${m.entry.apiVersion}${m.entry.time ? ` at ${m.entry.time}` : ''}`;
    return s;
  };
  const flat = conflicts.flatMap((c) => c.taken.paths().map((p) => ({ manager: shown(c.manager), field: pathString(p) })));
  let message: string;
  if (flat.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${flat[0]!.manager}: ${flat[0]!.field}`;
  } else {
    const byManager = [...new Set(flat.map((f) => f.manager))].sort();
    message = `Apply failed with ${flat.length} conflicts: ${byManager.map((m) =>
      [`conflicts with ${m}:`, ...flat.filter((f) => f.manager === m).map((f) => `- ${f.field}`)].join('\n')).join('\n')}`;
  }
  return new ConflictError(message, {
    name, group: r.group, kind: r.plural,
    causes: flat.map((f) => ({ reason: 'FieldManagerConflict', message: `conflict with ${f.manager}`, field: f.field })),
  });
}
