// `labctl apply -f FILE|DIR|-`: client-side apply, as kubectl does it. Each object is created
// when missing; otherwise a three-way strategic merge patch is computed from the configuration
// applied last time (kept in an annotation), the new one, and the live object, so fields that
// others set (replicas from `scale`, defaults the server filled) survive and fields removed from
// the file are removed. Nothing to change means no request at all ("unchanged").
import type { Command } from 'commander';
import { isNotFound } from '../../api/errors.ts';
import type { KubeObject } from '../../api/meta.ts';
import { deepEqual } from '../../api/objects.ts';
import { resourceForObject, type ResourceType } from '../../api/resources.ts';
import { CliContext, UsageError } from '../context.ts';
import type { Runner } from '../main.ts';
import { readManifests } from '../manifests.ts';
import { objectRef } from '../print.ts';
import { mergeKeysFromServer, type MergeKeyLookup } from '../openapi.ts';

export const lastAppliedAnnotation = 'kubectl.kubernetes.io/last-applied-configuration';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

export function registerApply(program: Command, run: Runner): void {
  program.command('apply')
    .description('create or update objects from files (multi-document YAML); a second run changes nothing')
    .requiredOption('-f, --filename <path...>', 'file, directory, or - for stdin')
    .action((opts: { filename: string[] }) => run((ctx) => apply(ctx, opts.filename)));
}

export async function apply(ctx: CliContext, paths: string[]): Promise<void> {
  const manifests = readManifests(paths);
  const metaCache = new Map<string, Promise<MergeKeyLookup>>();
  for (const { object, source } of manifests) {
    const r = resourceForObject(object.apiVersion, object.kind);
    if (!r) throw new UsageError(`${source}: the server has no ${object.kind} in ${object.apiVersion}`);
    const namespace = r.namespaced ? object.metadata.namespace ?? ctx.namespace : undefined;
    const modified = withLastApplied(r, object, namespace);
    let current: KubeObject | undefined;
    try {
      current = await ctx.client.get(r, namespace, object.metadata.name!);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const ref = objectRef(r, object.metadata.name!);
    if (!current) {
      await ctx.client.create(r, namespace, modified);
      ctx.print(`${ref} created`);
      continue;
    }
    const key = `${r.group}/${r.version}`;
    if (!metaCache.has(key)) metaCache.set(key, mergeKeysFromServer(ctx, r));
    const mergeKeys = await metaCache.get(key)!;
    const original = parseLastApplied(current);
    const patch = threeWayPatch(original as Json, modified as unknown as Json, current as unknown as Json, mergeKeys(r.kind), []);
    if (Object.keys(patch).length === 0) {
      ctx.print(`${ref} unchanged`);
      continue;
    }
    await ctx.client.patch(r, namespace, object.metadata.name!, patch, 'strategic');
    ctx.print(`${ref} configured`);
  }
}

/** The object to write: the file's fields, in the namespace, with itself recorded as last applied. */
function withLastApplied(r: ResourceType, object: KubeObject, namespace: string | undefined): KubeObject {
  const { status: _ignored, ...rest } = structuredClone(object);
  const config: KubeObject = { ...rest, metadata: { ...rest.metadata, ...(namespace && { namespace }) } };
  if (!r.namespaced) delete config.metadata.namespace;
  const annotations = { ...config.metadata.annotations };
  delete annotations[lastAppliedAnnotation];
  const recorded = { ...config, metadata: { ...config.metadata, annotations } };
  return { ...config, metadata: { ...config.metadata, annotations: { ...annotations, [lastAppliedAnnotation]: `${JSON.stringify(recorded)}\n` } } };
}

function parseLastApplied(current: KubeObject): JsonObject | undefined {
  const text = current.metadata.annotations?.[lastAppliedAnnotation];
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined; // someone edited the annotation by hand: treat the object as never applied
  }
}

/**
 * A strategic merge patch taking `current` to `modified`: fields that differ are set, fields
 * that were in `original` (last applied) but are no longer in `modified` are deleted, and lists
 * with a merge key are patched item by item.
 */
export function threeWayPatch(original: Json | undefined, modified: Json, current: Json, mergeKeyAt: (path: string[]) => string | undefined,
  path: string[]): JsonObject {
  const patch: JsonObject = {};
  const m = isObject(modified) ? modified : {};
  const c = isObject(current) ? current : {};
  const o = isObject(original) ? original : {};
  for (const [key, value] of Object.entries(m)) {
    const here = [...path, key];
    const live = c[key];
    if (isObject(value) && isObject(live)) {
      const sub = threeWayPatch(o[key], value, live, mergeKeyAt, here);
      if (Object.keys(sub).length > 0) patch[key] = sub;
    } else if (Array.isArray(value) && Array.isArray(live) && mergeKeyAt(here)) {
      const items = listPatch(Array.isArray(o[key]) ? o[key] as Json[] : [], value, live, mergeKeyAt(here)!, mergeKeyAt, here);
      if (items.length > 0) {
        patch[key] = items;
        patch[`$setElementOrder/${key}`] = value.map((item) => (isObject(item) ? { [mergeKeyAt(here)!]: item[mergeKeyAt(here)!] ?? null } : item));
      }
    } else if (!deepEqual(value, live) && !(Array.isArray(value) && Array.isArray(live) && listCovered(value, live))) {
      patch[key] = value;
    }
  }
  for (const key of Object.keys(o)) {
    if (!(key in m) && key in c) patch[key] = null;
  }
  return patch;
}

/**
 * Whether every item of a list in the file is already in the live list, up to the fields the
 * server filled in (a port's default protocol): without OpenAPI merge keys, that list needs no patch.
 */
function listCovered(modified: Json[], live: Json[]): boolean {
  const covers = (m: Json, c: Json): boolean => {
    if (isObject(m) && isObject(c)) return Object.entries(m).every(([k, v]) => k in c && covers(v, c[k]!));
    if (Array.isArray(m) && Array.isArray(c)) return listCovered(m, c);
    return deepEqual(m, c);
  };
  return modified.length === live.length && modified.every((item, i) => covers(item, live[i]!));
}

function listPatch(original: Json[], modified: Json[], current: Json[], mergeKey: string,
  mergeKeyAt: (path: string[]) => string | undefined, path: string[]): Json[] {
  const keyOf = (item: Json) => JSON.stringify(isObject(item) ? item[mergeKey] ?? null : item);
  const out: Json[] = [];
  for (const item of modified) {
    const live = current.find((x) => keyOf(x) === keyOf(item));
    if (!live || !isObject(item)) { out.push(item); continue; }
    const before = original.find((x) => keyOf(x) === keyOf(item));
    const sub = threeWayPatch(before, item, live, mergeKeyAt, path);
    if (Object.keys(sub).length > 0) out.push({ ...sub, [mergeKey]: item[mergeKey] ?? null });
  }
  for (const item of original) {
    const gone = !modified.some((x) => keyOf(x) === keyOf(item));
    if (gone && isObject(item) && current.some((x) => keyOf(x) === keyOf(item))) out.push({ [mergeKey]: item[mergeKey] ?? null, $patch: 'delete' });
  }
  return out;
}
