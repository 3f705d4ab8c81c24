// Strategic-merge metadata for `apply`, read from the server's OpenAPI v3 as kubectl reads it:
// which lists merge item by item, and by which key. One source of truth: the server's schemas.
import { isNotFound } from '../api/errors.ts';
import type { ResourceType } from '../api/resources.ts';
import type { CliContext } from './context.ts';

type Schema = {
  properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean;
  'x-kubernetes-patch-merge-key'?: string; 'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[];
};
interface Document { components?: { schemas?: Record<string, Schema> } }

/** For a kind, a function from a field path (no list indices) to that list's merge key. */
export type MergeKeyLookup = (kind: string) => (path: string[]) => string | undefined;

export async function mergeKeysFromServer(ctx: CliContext, r: ResourceType): Promise<MergeKeyLookup> {
  const gv = r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`;
  let doc: Document | undefined;
  try {
    const index = await ctx.client.request<{ paths?: Record<string, { serverRelativeURL: string }> }>('GET', '/openapi/v3');
    const url = index.paths?.[gv]?.serverRelativeURL;
    if (url) doc = await ctx.client.request<Document>('GET', url);
  } catch (err) {
    // A server without OpenAPI: every list is replaced whole, as a merge patch would.
    if (!isNotFound(err)) throw err;
  }
  const schemas = Object.values(doc?.components?.schemas ?? {});
  return (kind) => {
    const root = schemas.find((s) => s['x-kubernetes-group-version-kind']?.some((g) => g.kind === kind && g.group === r.group));
    return (path) => {
      let s: Schema | undefined = root;
      for (const part of path) {
        if (!s) return undefined;
        s = s.items ?? s;
        s = s.properties?.[part] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
      }
      return s?.['x-kubernetes-patch-merge-key'];
    };
  };
}
