// Field sets: the part of server-side apply that says which fields of an object a manager owns,
// after Kubernetes' structured-merge-diff (sigs.k8s.io/structured-merge-diff, fieldpath and
// typed). A set is a tree whose edges are path elements, serialized as `managedFields` do it:
//   f:name            a field of an object
//   k:{"name":"web"}  an item of an associative list, by its key
//   v:"finalizer"     a value of a set list
//   .                 (in FieldsV1) the node itself is owned, besides fields below it
//
// Which lists are associative comes from the same table strategic merge patch uses
// (patch.ts mergeKeys, one key per list; Kubernetes keys container ports by port and protocol);
// other lists are atomic, owned as one value. LabelSelectors, a Service's selector and
// nodeSelector are atomic maps, as Kubernetes marks them.
import { BadRequestError } from '../api/errors.ts';
import { deepEqual } from '../api/objects.ts';
import { mergeKeyFor, mergedPrimitiveLists } from './patch.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Maps whose entries are owned one by one, and whose own path an Update that adds them owns too. */
const granularMaps = new Set(['labels', 'annotations', 'limits', 'requests', 'data', 'binaryData', 'stringData', 'capacity', 'allocatable']);
/** Objects owned as one value (`+structType=atomic`, `+mapType=atomic` upstream). */
const atomicObjects = new Set(['selector', 'nodeSelector']);

type ListKind = { type: 'map'; key: string } | { type: 'set' } | { type: 'atomic' };

function listKind(fieldPath: string): ListKind {
  const key = mergeKeyFor(fieldPath);
  if (key) return { type: 'map', key };
  if (mergedPrimitiveLists.includes(fieldPath)) return { type: 'set' };
  return { type: 'atomic' };
}

const join = (fieldPath: string, key: string) => (fieldPath ? `${fieldPath}.${key}` : key);

/** A node of a field set; the root stands for the whole object and is never a member itself. */
export class FieldSet {
  member = false;
  readonly children = new Map<string, FieldSet>();

  child(element: string): FieldSet {
    let c = this.children.get(element);
    if (!c) this.children.set(element, c = new FieldSet());
    return c;
  }

  get empty(): boolean { return !this.member && this.children.size === 0; }

  /** Drops nodes that own nothing at or below them; returns whether this one is empty. */
  compact(): boolean {
    for (const [k, c] of this.children) if (c.compact()) this.children.delete(k);
    return this.empty;
  }

  union(other: FieldSet): FieldSet {
    const out = this.clone();
    out.member ||= other.member;
    for (const [k, c] of other.children) {
      const mine = out.children.get(k);
      out.children.set(k, mine ? mine.union(c) : c.clone());
    }
    return out;
  }

  /** The members of this set that are not members of `other`. */
  difference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    out.member = this.member && !other.member;
    for (const [k, c] of this.children) {
      const theirs = other.children.get(k);
      const d = theirs ? c.difference(theirs) : c.clone();
      if (!d.empty) out.children.set(k, d);
    }
    return out;
  }

  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet();
    out.member = this.member && other.member;
    for (const [k, c] of this.children) {
      const theirs = other.children.get(k);
      if (!theirs) continue;
      const i = c.intersection(theirs);
      if (!i.empty) out.children.set(k, i);
    }
    return out;
  }

  equals(other: FieldSet): boolean {
    if (this.member !== other.member || this.children.size !== other.children.size) return false;
    for (const [k, c] of this.children) {
      const theirs = other.children.get(k);
      if (!theirs || !c.equals(theirs)) return false;
    }
    return true;
  }

  clone(): FieldSet {
    const out = new FieldSet();
    out.member = this.member;
    for (const [k, c] of this.children) out.children.set(k, c.clone());
    return out;
  }

  /** Every owned path, as its elements, in a stable order. */
  paths(prefix: string[] = []): string[][] {
    const out: string[][] = [];
    if (this.member && prefix.length > 0) out.push(prefix);
    for (const k of [...this.children.keys()].sort()) out.push(...this.children.get(k)!.paths([...prefix, k]));
    return out;
  }

  /** FieldsV1, as `metadata.managedFields[].fieldsV1` holds it. */
  toJSON(): JsonObject {
    const out: JsonObject = {};
    if (this.member && this.children.size > 0) out['.'] = {};
    for (const k of [...this.children.keys()].sort()) out[k] = this.children.get(k)!.toJSON();
    return out;
  }

  /** Parses FieldsV1; throws a message naming what is wrong (the caller says where). */
  static fromJSON(value: unknown, depth = 0): FieldSet {
    if (!isObject(value)) throw new Error('must be an object');
    if (depth > 100) throw new Error('is nested too deeply');
    const out = new FieldSet();
    for (const [k, v] of Object.entries(value)) {
      if (k === '.') {
        if (!isObject(v) || Object.keys(v).length > 0) throw new Error('"." must be {}');
        out.member = true;
        continue;
      }
      checkElement(k);
      const c = FieldSet.fromJSON(v, depth + 1);
      if (c.children.size === 0) c.member = true;
      out.children.set(k, c);
    }
    return out;
  }
}

function checkElement(k: string): void {
  const kind = k.slice(0, 2);
  const rest = k.slice(2);
  if (kind === 'f:') return;
  if (kind === 'i:' && /^\d+$/.test(rest)) return;
  if (kind === 'k:' || kind === 'v:') {
    let parsed: unknown;
    try { parsed = JSON.parse(rest); } catch { throw new Error(`path element ${JSON.stringify(k)} is not valid JSON`); }
    if (kind === 'k:' && !isObject(parsed)) throw new Error(`path element ${JSON.stringify(k)} must hold an object`);
    return;
  }
  throw new Error(`unknown path element ${JSON.stringify(k)}`);
}

/** `.spec.template.spec.containers[name="nginx"].image`, as Kubernetes prints a field path. */
export function pathString(elements: string[]): string {
  return elements.map((e) => {
    const rest = e.slice(2);
    switch (e.slice(0, 2)) {
      case 'f:': return `.${rest}`;
      case 'k:': return `[${Object.entries(JSON.parse(rest) as JsonObject).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
      case 'v:': return `[=${rest}]`;
      default: return `[${rest}]`;
    }
  }).join('');
}

const itemElement = (key: string, value: Json) => `k:${JSON.stringify({ [key]: value })}`;

/** The key element of an associative list's item, or undefined for an item without its key. */
function keyOf(item: Json, key: string): string | undefined {
  return isObject(item) && item[key] !== undefined && item[key] !== null ? itemElement(key, item[key]!) : undefined;
}

/** The fields an applied configuration sets: every leaf, list item and empty object in it. */
export function fieldSetOf(obj: JsonObject): FieldSet {
  const set = new FieldSet();
  addObject(set, obj, '');
  return set;
}

function addObject(node: FieldSet, obj: JsonObject, fieldPath: string): void {
  for (const [key, v] of Object.entries(obj)) addValue(node.child(`f:${key}`), v, join(fieldPath, key), key);
}

function addValue(node: FieldSet, v: Json, fieldPath: string, key: string): void {
  if (isObject(v)) {
    if (atomicObjects.has(key) || Object.keys(v).length === 0) node.member = true;
    else addObject(node, v, fieldPath);
    return;
  }
  if (!Array.isArray(v)) { node.member = true; return; }
  const kind = listKind(fieldPath);
  if (kind.type === 'atomic') { node.member = true; return; }
  const seen = new Set<string>();
  v.forEach((item, i) => {
    const element = kind.type === 'set' ? `v:${JSON.stringify(item)}` : keyOf(item, kind.key);
    if (element === undefined) {
      throw new BadRequestError(`.${fieldPath}: element ${i}: associative list with keys has an element that omits key field "${kind.type === 'map' ? kind.key : ''}"`);
    }
    if (seen.has(element)) throw new BadRequestError(`.${fieldPath}: duplicate entries for key ${pathString([element])}`);
    seen.add(element);
    const itemNode = node.child(element);
    itemNode.member = true;
    if (kind.type === 'map' && isObject(item)) addObject(itemNode, item, fieldPath);
  });
}

/** What changed from `before` to `after`: fields added or modified, and fields removed. */
export interface Comparison { changed: FieldSet; removed: FieldSet }

export function compare(before: JsonObject, after: JsonObject): Comparison {
  const changed = new FieldSet();
  const removed = new FieldSet();
  diffObject(before, after, '', changed, removed);
  changed.compact();
  removed.compact();
  return { changed, removed };
}

function diffObject(before: JsonObject, after: JsonObject, fieldPath: string, changed: FieldSet, removed: FieldSet): void {
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const element = `f:${key}`;
    diffValue(before[key], after[key], join(fieldPath, key), key, changed, removed, element);
  }
}

/** Records the change of the value under `element` of the nodes `changed` and `removed`. */
function diffValue(before: Json | undefined, after: Json | undefined, fieldPath: string, key: string,
  changed: FieldSet, removed: FieldSet, element: string, isItem = false): void {
  if (before === undefined && after === undefined) return;
  if (before === undefined) {
    const node = changed.child(element);
    addValue(node, after!, fieldPath, key);
    if (isItem || granularMaps.has(key)) node.member = true;
    return;
  }
  if (after === undefined) {
    const node = removed.child(element);
    addValueLenient(node, before, fieldPath, key);
    node.member = true;
    return;
  }
  if (isObject(before) && isObject(after) && !atomicObjects.has(key) && Object.keys(after).length > 0) {
    diffObject(before, after, fieldPath, changed.child(element), removed.child(element));
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const kind = listKind(fieldPath);
    if (kind.type === 'set') {
      const had = new Set(before.map((v) => JSON.stringify(v)));
      const has = new Set(after.map((v) => JSON.stringify(v)));
      for (const v of has) if (!had.has(v)) changed.child(element).child(`v:${v}`).member = true;
      for (const v of had) if (!has.has(v)) removed.child(element).child(`v:${v}`).member = true;
      return;
    }
    if (kind.type === 'map') {
      const old = itemsByKey(before, kind.key);
      const now = itemsByKey(after, kind.key);
      if (old && now) {
        for (const [k, item] of now) diffValue(old.get(k), item, fieldPath, key, changed.child(element), removed.child(element), k, true);
        for (const [k, item] of old) if (!now.has(k)) diffValue(item, undefined, fieldPath, key, changed.child(element), removed.child(element), k, true);
        return;
      }
    }
  }
  if (!deepEqual(before, after)) changed.child(element).member = true;
}

/** A stored value's fields, even where a stored list breaks the key rules an applied one must keep. */
function addValueLenient(node: FieldSet, v: Json, fieldPath: string, key: string): void {
  try { addValue(node, v, fieldPath, key); } catch { node.member = true; }
}

function itemsByKey(list: Json[], key: string): Map<string, Json> | undefined {
  const out = new Map<string, Json>();
  for (const item of list) {
    const k = keyOf(item, key);
    if (k === undefined) return undefined; // not keyed after all: compared as one value
    if (!out.has(k)) out.set(k, item);
  }
  return out;
}

/**
 * An applied configuration merged into the live object: objects merge field by field,
 * associative lists item by item (live order, new items after), set lists as sets; anything
 * else, and atomic values, the configuration replaces. A null in the configuration removes.
 */
export function merge(live: JsonObject, config: JsonObject): JsonObject {
  return mergeObject(live, config, '');
}

function mergeObject(live: JsonObject, config: JsonObject, fieldPath: string): JsonObject {
  const out: JsonObject = { ...live };
  for (const [key, value] of Object.entries(config)) {
    if (value === null) { delete out[key]; continue; }
    out[key] = mergeValue(live[key], value, join(fieldPath, key), key);
  }
  return out;
}

function mergeValue(live: Json | undefined, config: Json, fieldPath: string, key: string): Json {
  if (live === undefined) return structuredClone(config);
  if (isObject(live) && isObject(config) && !atomicObjects.has(key)) return mergeObject(live, config, fieldPath);
  if (Array.isArray(live) && Array.isArray(config)) {
    const kind = listKind(fieldPath);
    if (kind.type === 'set') {
      const had = new Set(live.map((v) => JSON.stringify(v)));
      return [...live, ...config.filter((v) => !had.has(JSON.stringify(v)))];
    }
    if (kind.type === 'map') {
      const fromConfig = itemsByKey(config, kind.key)!; // fieldSetOf has vouched for the keys
      const out = live.map((item) => {
        const k = keyOf(item, kind.key);
        const applied = k === undefined ? undefined : fromConfig.get(k);
        return applied === undefined ? item : mergeValue(item, applied, fieldPath, key);
      });
      const present = new Set(live.map((item) => keyOf(item, kind.key)));
      for (const [k, item] of fromConfig) if (!present.has(k)) out.push(structuredClone(item));
      return out;
    }
  }
  return structuredClone(config);
}

/**
 * Removes from `obj` what a manager applied before (`last`) and no manager owns now (`owned`):
 * a field someone still owns, or owns something below, stays.
 */
export function prune(obj: JsonObject, last: FieldSet, owned: FieldSet): JsonObject {
  return pruneObject(obj, last, owned, '');
}

function pruneObject(obj: JsonObject, last: FieldSet, owned: FieldSet, fieldPath: string): JsonObject {
  const out: JsonObject = { ...obj };
  for (const [element, lastChild] of last.children) {
    if (!element.startsWith('f:')) continue;
    const key = element.slice(2);
    if (!(key in out)) continue;
    const ownedChild = owned.children.get(element);
    if (!ownedChild) { delete out[key]; continue; }
    if (lastChild.children.size > 0) out[key] = pruneValue(out[key]!, lastChild, ownedChild, join(fieldPath, key));
  }
  return out;
}

function pruneValue(value: Json, last: FieldSet, owned: FieldSet, fieldPath: string): Json {
  if (isObject(value)) return pruneObject(value, last, owned, fieldPath);
  if (!Array.isArray(value)) return value;
  const kind = listKind(fieldPath);
  if (kind.type === 'atomic') return value;
  const out: Json[] = [];
  for (const item of value) {
    const element = kind.type === 'set' ? `v:${JSON.stringify(item)}` : keyOf(item, kind.key);
    const lastChild = element === undefined ? undefined : last.children.get(element);
    if (!lastChild) { out.push(item); continue; }
    const ownedChild = owned.children.get(element!);
    if (!ownedChild) continue;
    out.push(lastChild.children.size > 0 && isObject(item) ? pruneObject(item, lastChild, ownedChild, fieldPath) : item);
  }
  return out;
}
