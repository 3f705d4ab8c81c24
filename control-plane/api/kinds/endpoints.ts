// Endpoints: written by the endpoints controller for each Service with a selector; no spec, so
// no generation, and nothing beyond the schema to check.
import { Endpoints } from '../core.ts';
import type { KubeObject } from '../meta.ts';
import { ageCol, col, joinHostPort, listWithMore, nameCol } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';

interface EndpointsView { subsets?: { addresses?: { ip: string }[]; ports?: { name?: string; port: number }[] }[] }

/**
 * The ready `ip:port`s of an Endpoints object as kubectl's formatEndpoints: at most three, then
 * `+ N more...`; `<none>` without subsets, and empty when every address is not ready.
 */
export function formatEndpoints(o: KubeObject): string {
  const subsets = (o as unknown as EndpointsView).subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const list: string[] = [];
  let count = 0;
  for (const subset of subsets) {
    const addresses = subset.addresses ?? [];
    // A headless Service may have no ports: its addresses alone.
    const targets = subset.ports?.length ? subset.ports.flatMap((p) => addresses.map((a) => joinHostPort(a.ip, p.port))) : addresses.map((a) => a.ip);
    count += targets.length;
    list.push(...targets.slice(0, Math.max(0, max - list.length)));
  }
  return listWithMore(list, count, max, '');
}

export const endpointsStrategy: KindStrategy = {
  resource: resource({ group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', namespaced: true, shortNames: ['ep'], schema: Endpoints, hasSpec: false }),
  columns: [nameCol, col('Endpoints', formatEndpoints, { description: 'The set of all endpoints is the union of all subsets.' }), ageCol],
};
