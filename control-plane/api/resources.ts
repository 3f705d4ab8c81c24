// The table of every resource the API serves. The API server builds its routes and discovery
// from it, the store its keys, the CLI its names and short names: adding a kind is one entry.
import type { TSchema } from '@sinclair/typebox';
import { Endpoints, Event, Namespace, Node, Pod, Service } from './core.ts';
import { Deployment, ReplicaSet } from './apps.ts';
import { Lease } from './coordination.ts';
import { EndpointSlice } from './discovery.ts';
import { PodDisruptionBudget } from './policy.ts';

export type Subresource = 'status' | 'scale' | 'binding' | 'log' | 'eviction';

export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  schema: TSchema;
  subresources: Subresource[];
  /** Leases are heartbeats: kept in memory so an idle lab does not wear out an SD card. */
  storage: 'disk' | 'memory';
  /** Whether `spec` changes bump metadata.generation (kinds with a spec). */
  hasSpec: boolean;
}

function resource(r: Omit<ResourceType, 'singular' | 'storage' | 'hasSpec' | 'subresources'> &
  Partial<Pick<ResourceType, 'storage' | 'hasSpec' | 'subresources'>>): ResourceType {
  return { singular: r.kind.toLowerCase(), storage: 'disk', hasSpec: true, subresources: [], ...r };
}

export const resources: readonly ResourceType[] = [
  resource({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], schema: Namespace, subresources: ['status'] }),
  resource({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], schema: Node, subresources: ['status'] }),
  resource({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], schema: Pod, subresources: ['status', 'binding', 'log', 'eviction'] }),
  resource({ group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], schema: Service, subresources: ['status'] }),
  resource({ group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', namespaced: true, shortNames: ['ep'], schema: Endpoints, hasSpec: false }),
  resource({ group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'], schema: Event, hasSpec: false }),
  resource({ group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true, shortNames: ['rs'], schema: ReplicaSet, subresources: ['status', 'scale'] }),
  resource({ group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, shortNames: ['deploy'], schema: Deployment, subresources: ['status', 'scale'] }),
  // Kubernetes gives EndpointSlices no short name.
  resource({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true, shortNames: [], schema: EndpointSlice, hasSpec: false }),
  resource({ group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true, shortNames: ['pdb'], schema: PodDisruptionBudget, subresources: ['status'] }),
  resource({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true, shortNames: [], schema: Lease, storage: 'memory' }),
];

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

/** Namespaces that always exist. */
export const systemNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'] as const;
