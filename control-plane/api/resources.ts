// The table of every resource the API serves. The API server builds its routes and discovery
// from it, the store its keys, the CLI its names and short names. Each kind's rules live in one
// strategy module under kinds/ (its table entry, defaults, validation, update and delete rules,
// columns): adding a kind is one new module, imported and added to `strategies` below.
import { configMapStrategy } from './kinds/configmap.ts';
import { deploymentStrategy } from './kinds/deployment.ts';
import { endpointSliceStrategy } from './kinds/endpointslice.ts';
import { endpointsStrategy } from './kinds/endpoints.ts';
import { eventStrategy } from './kinds/event.ts';
import { leaseStrategy } from './kinds/lease.ts';
import { namespaceStrategy } from './kinds/namespace.ts';
import { nodeStrategy } from './kinds/node.ts';
import { podDisruptionBudgetStrategy } from './kinds/poddisruptionbudget.ts';
import { podStrategy } from './kinds/pod.ts';
import { replicaSetStrategy } from './kinds/replicaset.ts';
import { secretStrategy } from './kinds/secret.ts';
import { serviceStrategy } from './kinds/service.ts';
import type { KindStrategy, ResourceType } from './kinds/strategy.ts';

export type { KindStrategy, ResourceType, Subresource } from './kinds/strategy.ts';
export { systemNamespaces } from './kinds/namespace.ts';

// In discovery's order, which `kubectl api-resources` prints.
const strategies: readonly KindStrategy[] = [
  namespaceStrategy, nodeStrategy, podStrategy, serviceStrategy, endpointsStrategy, eventStrategy, configMapStrategy, secretStrategy,
  replicaSetStrategy, deploymentStrategy, endpointSliceStrategy, podDisruptionBudgetStrategy, leaseStrategy,
];

export const resources: readonly ResourceType[] = strategies.map((s) => s.resource);

const strategyByKind = new Map(strategies.map((s) => [s.resource.kind, s]));

/** The rules of a kind, or undefined for a kind the API does not serve. */
export const strategyForKind = (kind: string): KindStrategy | undefined => strategyByKind.get(kind);

/** The rules of a resource of the table (which has one strategy per kind). */
export function strategyFor(r: ResourceType): KindStrategy {
  const strategy = strategyByKind.get(r.kind);
  if (!strategy) throw new Error(`no strategy for kind ${r.kind}`);
  return strategy;
}

export const apiVersionOf = (r: Pick<ResourceType, 'group' | 'version'>): string =>
  (r.group ? `${r.group}/${r.version}` : r.version);

const byGroupPlural = new Map(resources.map((r) => [`${r.group}/${r.plural}`, r]));

export function resourceFor(group: string, plural: string): ResourceType | undefined {
  return byGroupPlural.get(`${group}/${plural}`);
}

export function resourceForKind(kind: string): ResourceType | undefined {
  return resources.find((r) => r.kind === kind);
}

/**
 * The resource of an object's apiVersion and kind (`v1` + `Endpoints`, `apps/v1` + `Deployment`),
 * for manifests: a plural guessed from the kind would be wrong for Endpoints.
 */
export function resourceForObject(apiVersion: string, kind: string): ResourceType | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) as [string, string] : ['', apiVersion];
  return resources.find((r) => r.group === group && r.version === version && r.kind === kind);
}

/** Finds a resource by plural, singular, kind or short name, as `kubectl get` accepts them. */
export function resourceByName(name: string): ResourceType | undefined {
  const n = name.toLowerCase();
  return resources.find((r) => r.plural === n || r.singular === n || r.shortNames.includes(n));
}

export const groups = [...new Set(resources.map((r) => r.group))];
