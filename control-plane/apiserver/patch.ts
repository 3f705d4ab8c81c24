// The three patch formats kubectl and client libraries send:
//  - JSON merge patch (RFC 7386): objects merge, lists replace, null deletes.
//  - JSON patch (RFC 6902): a list of add/remove/replace/move/copy/test operations.
//  - Strategic merge patch: a merge patch in which the lists Kubernetes marks with a merge key
//    (containers by name, ports by containerPort, env by name, ...) merge item by item. This is
//    what `kubectl apply` and `kubectl scale` send, with `$patch`, `$setElementOrder/` and
//    `$deleteFromPrimitiveList/` directives.
//
// A patch may not produce an object larger than the API stores (api/validation.ts
// maxObjectBytes). A JSON patch can grow a document exponentially (`copy` a value into itself,
// 20 times), so it tracks the document's size op by op and stops at the first op that passes
// the limit, before cloning anything. Merge patches cannot amplify (the result is at most the
// target plus the patch, both bounded), so their result is measured once.
import { BadRequestError, ConflictError, TooLargeError } from '../api/errors.ts';
import { maxObjectBytes, shapeErrors } from '../api/validation.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Kubernetes' maxJSONPatchOperations (kubernetes#74000). */
export const maxJsonPatchOperations = 10_000;
/**
 * Bytes a JSON patch may add, copy, remove or compare in all, as a multiple of the object limit:
 * enough to rewrite an object several times over, and it bounds one patch to milliseconds, where
 * 10,000 ops on a 1.5 MiB document could otherwise cost gigabytes of copying.
 */
const jsonPatchWorkFactor = 8;

/** A field set as an own property, so that a key named `__proto__` stays data, not a prototype. */
function setOwn(obj: JsonObject, key: string, value: Json): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** The JSON-encoded size of `value` in bytes; a document too deep to encode is the client's error. */
export function jsonBytes(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '');
  } catch (err) {
    if (err instanceof RangeError) throw new BadRequestError('the object is nested too deeply');
    throw err;
  }
}

function tooLarge(bytes: number, limit: number): TooLargeError {
  return new TooLargeError(`the patched object would be larger than ${limit} bytes (at least ${bytes} bytes)`);
}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else setOwn(result, key, mergePatch(result[key] ?? null, value));
  }
  return result;
}

interface JsonPatchOp { op: string; path: string; value?: Json; from?: string }

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new BadRequestError(`invalid JSON pointer "${pointer}"`);
  return pointer.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(doc: Json, path: string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const part of path) {
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isObject(cur)) cur = Object.prototype.hasOwnProperty.call(cur, part) ? cur[part] : undefined;
    else return undefined;
  }
  return cur;
}

function parentOf(doc: Json, path: string[], op: string): { parent: JsonObject | Json[]; last: string } {
  const parent = getAt(doc, path.slice(0, -1));
  if (!isObject(parent) && !Array.isArray(parent)) {
    throw new BadRequestError(`JSON patch ${op}: doc is missing path "/${path.join('/')}"`);
  }
  return { parent, last: path[path.length - 1]! };
}

function arrayIndex(arr: Json[], last: string, forInsert: boolean, path: string): number {
  if (forInsert && last === '-') return arr.length;
  const i = Number(last);
  if (!/^\d+$/.test(last) || i > arr.length || (!forInsert && i === arr.length)) {
    throw new BadRequestError(`JSON patch index out of range at "${path}"`);
  }
  return i;
}

export function jsonPatch(doc: Json, ops: unknown, maxBytes = maxObjectBytes): Json {
  if (!Array.isArray(ops)) throw new BadRequestError('a JSON patch must be a list of operations');
  if (ops.length > maxJsonPatchOperations) {
    throw new TooLargeError(`The allowed maximum operations in a JSON patch is ${maxJsonPatchOperations}, got ${ops.length}`);
  }
  let result: Json = structuredClone(doc);
  // An upper bound on the document's encoded size, kept op by op without re-encoding it.
  let size = jsonBytes(result);
  let work = 0;
  const measure = (value: Json): number => {
    const bytes = jsonBytes(value);
    work += bytes;
    if (work > jsonPatchWorkFactor * maxBytes) throw new TooLargeError('the JSON patch does too much work: it copies, moves or compares too many bytes');
    return bytes;
  };
  const grow = (at: string[], bytes: number) => {
    // A new object key adds `"key":` and a comma besides the value.
    const next = size + bytes + (at.length > 0 ? Buffer.byteLength(at[at.length - 1]!) + 4 : 0);
    if (next > maxBytes) throw tooLarge(next, maxBytes);
    size = next;
  };
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new BadRequestError('each JSON patch operation needs "op" and "path"');
    }
    const op = raw as unknown as JsonPatchOp;
    const path = parsePointer(op.path);
    const add = (at: string[], value: Json) => {
      if (at.length === 0) { result = value; return; }
      const { parent, last } = parentOf(result, at, op.op);
      if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true, op.path), 0, value);
      else setOwn(parent, last, value);
    };
    const remove = (at: string[]): Json => {
      if (at.length === 0) throw new BadRequestError('JSON patch may not remove the whole document');
      const { parent, last } = parentOf(result, at, op.op);
      if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, false, op.path), 1)[0]!;
      if (!Object.prototype.hasOwnProperty.call(parent, last)) throw new BadRequestError(`unable to remove nonexistent key "${last}"`);
      const old = parent[last]!;
      delete parent[last];
      return old;
    };
    /** Adds `value` (not yet cloned) after checking that the document stays within the limit. */
    const addChecked = (at: string[], value: Json) => {
      const bytes = measure(value);
      if (at.length === 0) size = 0;
      grow(at, bytes);
      add(at, structuredClone(value));
    };
    const removeCounted = (at: string[]): Json => {
      const old = remove(at);
      size -= measure(old);
      return old;
    };
    switch (op.op) {
      case 'add': addChecked(path, op.value ?? null); break;
      case 'remove': removeCounted(path); break;
      case 'replace':
        if (path.length > 0) removeCounted(path);
        addChecked(path, op.value ?? null);
        break;
      case 'move': {
        const from = parsePointer(op.from ?? '');
        if (from.length < path.length && from.every((p, i) => p === path[i])) {
          throw new BadRequestError(`JSON patch move: "${op.path}" is inside "${op.from}"`);
        }
        add(path, remove(from));
        break;
      }
      case 'copy': {
        const v = getAt(result, parsePointer(op.from ?? ''));
        if (v === undefined) throw new BadRequestError(`copy from a missing path "${op.from}"`);
        addChecked(path, v);
        break;
      }
      case 'test':
        measure(op.value ?? null);
        if (JSON.stringify(getAt(result, path)) !== JSON.stringify(op.value)) {
          throw new ConflictError(`testing value ${op.path} failed`);
        }
        break;
      default: throw new BadRequestError(`unknown JSON patch operation "${op.op}"`);
    }
  }
  return result;
}

/**
 * Merge keys of the list fields labkube knows, by the field's path with list indices removed.
 * The longest matching suffix wins, so `spec.ports` of a Service (by `port`) and a container's
 * `ports` (by `containerPort`) are told apart. Lists not named here are replaced, as upstream.
 */
export const mergeKeys: [suffix: string, key: string][] = [
  ['containers.ports', 'containerPort'],
  ['initContainers.ports', 'containerPort'],
  ['containers', 'name'],
  ['initContainers', 'name'],
  ['env', 'name'],
  ['volumeMounts', 'mountPath'],
  ['volumes', 'name'],
  ['imagePullSecrets', 'name'],
  ['spec.ports', 'port'],
  ['conditions', 'type'],
  ['addresses', 'type'],
  ['taints', 'key'],
  ['ownerReferences', 'uid'],
];
/** Lists of strings that merge as sets (patchStrategy merge on a primitive list). */
export const mergedPrimitiveLists = ['metadata.finalizers'];

/** The merge key of the list at `path` (indices removed): the longest matching suffix wins. */
export function mergeKeyFor(path: string): string | undefined {
  let best: [string, string] | undefined;
  for (const entry of mergeKeys) {
    const [suffix] = entry;
    if ((path === suffix || path.endsWith(`.${suffix}`)) && (!best || suffix.length > best[0].length)) best = entry;
  }
  return best?.[1];
}

export function strategicMergePatch(target: Json, patch: Json, path = ''): Json {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _drop, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === 'delete') return null;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  const retainKeys = patch.$retainKeys;
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const drop = new Set((Array.isArray(value) ? value : []).map((v) => JSON.stringify(v)));
      const cur = result[field];
      if (Array.isArray(cur)) result[field] = cur.filter((v) => !drop.has(JSON.stringify(v)));
      continue;
    }
    const child = path ? `${path}.${key}` : key;
    if (value === null) { delete result[key]; continue; }
    if (key === '__proto__') { setOwn(result, key, stripDirectives(value)); continue; }
    if (Array.isArray(value)) {
      const mergeKey = mergeKeyFor(child);
      const order = patch[`$setElementOrder/${key}`];
      if (mergeKey) result[key] = mergeList(result[key], value, mergeKey, child, Array.isArray(order) ? order : undefined);
      else if (mergedPrimitiveLists.includes(child)) {
        const cur = Array.isArray(result[key]) ? (result[key] as Json[]) : [];
        result[key] = [...cur, ...value.filter((v) => !cur.some((c) => JSON.stringify(c) === JSON.stringify(v)))];
      } else result[key] = stripDirectives(value);
      continue;
    }
    result[key] = strategicMergePatch(result[key] ?? null, value, child);
    if (result[key] === null) delete result[key];
  }
  if (Array.isArray(retainKeys)) {
    for (const key of Object.keys(result)) if (!retainKeys.includes(key)) delete result[key];
  }
  return result;
}

function mergeList(target: Json | undefined, patch: Json[], mergeKey: string, path: string, order?: Json[]): Json[] {
  if (patch.some((item) => isObject(item) && item.$patch === 'replace')) {
    return patch.filter((item) => !(isObject(item) && item.$patch === 'replace')).map(stripDirectives);
  }
  const result: Json[] = Array.isArray(target) ? [...target] : [];
  const keyOf = (item: Json) => (isObject(item) ? JSON.stringify(item[mergeKey] ?? null) : JSON.stringify(item));
  for (const item of patch) {
    const i = result.findIndex((cur) => keyOf(cur) === keyOf(item));
    if (isObject(item) && item.$patch === 'delete') {
      if (i >= 0) result.splice(i, 1);
    } else if (i >= 0) {
      result[i] = strategicMergePatch(result[i]!, item, path);
    } else {
      result.push(stripDirectives(item));
    }
  }
  if (order) {
    // `$setElementOrder` lists the merge keys in the order the client wants them.
    const rank = new Map(order.map((o, idx) => [keyOf(o), idx]));
    result.sort((a, b) => (rank.get(keyOf(a)) ?? Infinity) - (rank.get(keyOf(b)) ?? Infinity));
  }
  return result;
}

function stripDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) if (!k.startsWith('$')) setOwn(out, k, stripDirectives(v));
  return out;
}

export const patchTypes = {
  'application/merge-patch+json': mergePatch,
  'application/strategic-merge-patch+json': strategicMergePatch,
  'application/json-patch+json': jsonPatch,
} as const;
export type PatchType = keyof typeof patchTypes;

/** Applies a patch; throws 413 as soon as the result would be larger than `maxBytes`. */
export function applyPatch(type: PatchType, doc: unknown, patch: unknown, maxBytes = maxObjectBytes): unknown {
  // `1e400` parses to Infinity, and YAML's `!!binary` to a Uint8Array: neither is JSON, and a field
  // the object then drops (an unknown one) would otherwise let the patch through as a 200.
  const notJson = shapeErrors(undefined, patch)[0];
  if (notJson) throw new BadRequestError(`the patch is not valid JSON${notJson.field ? ` at ${notJson.field}` : ''}: ${notJson.message}`);
  try {
    if (type === 'application/json-patch+json') return jsonPatch(doc as Json, patch, maxBytes);
    const result = patchTypes[type](doc as Json, patch as Json);
    const bytes = jsonBytes(result);
    if (bytes > maxBytes) throw tooLarge(bytes, maxBytes);
    return result;
  } catch (err) {
    // Merging recurses as deep as the patch goes; the body parser bounds that, and this is the backstop.
    if (err instanceof RangeError) throw new BadRequestError('the patch is nested too deeply');
    throw err;
  }
}
