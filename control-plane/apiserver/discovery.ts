// Discovery documents, built from the resource table: what `kubectl api-resources` reads and
// what every client uses to map a kind to its path.
import { metricsGroup, metricsVersion } from '../api/node-usage.ts';
import { resources, apiVersionOf, groups, type ResourceType } from '../api/resources.ts';

export const kubernetesVersion = { major: '1', minor: '31' };

export function versionInfo() {
  return {
    ...kubernetesVersion,
    gitVersion: `v${kubernetesVersion.major}.${kubernetesVersion.minor}.0-labkube`,
    gitCommit: 'labkube', gitTreeState: 'clean', buildDate: '2026-11-23T00:00:00Z',
    goVersion: `node${process.versions.node}`, compiler: 'tsx', platform: `${process.platform}/${process.arch}`,
  };
}

const verbsFor = (r: ResourceType) => ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function subresourceEntry(r: ResourceType, sub: string) {
  const kinds: Record<string, { kind: string; group?: string; version?: string; verbs: string[] }> = {
    status: { kind: r.kind, verbs: ['get', 'patch', 'update'] },
    scale: { kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] },
    binding: { kind: 'Binding', verbs: ['create'] },
    log: { kind: 'Pod', verbs: ['get'] },
    // kubectl drain looks for this entry (group policy, version v1) to decide to evict rather than delete.
    eviction: { kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] },
  };
  const k = kinds[sub]!;
  return { name: `${r.plural}/${sub}`, singularName: '', namespaced: r.namespaced, kind: k.kind,
    ...(k.group && { group: k.group, version: k.version }), verbs: k.verbs };
}

export function apiVersions(serverAddress: string) {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

/**
 * metrics.k8s.io is not in the resource table: it is served from memory by its own routes
 * (metrics-api.ts), get and list only, as metrics-server serves it. kubectl top looks for the
 * group and version in /apis before it asks for anything.
 */
const metricsResources = {
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${metricsGroup}/${metricsVersion}`,
  resources: [
    { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
    { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
  ],
};

export function apiGroupList() {
  return {
    kind: 'APIGroupList', apiVersion: 'v1',
    groups: [...groups.filter((g) => g !== ''), metricsGroup].map(apiGroup),
  };
}

export function apiGroup(name: string) {
  const version = name === metricsGroup ? metricsVersion : resources.find((r) => r.group === name)!.version;
  const gv = { groupVersion: `${name}/${version}`, version };
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: [gv], preferredVersion: gv };
}

export function apiResourceList(group: string, version: string) {
  if (group === metricsGroup && version === metricsVersion) return metricsResources;
  const list = resources.filter((r) => r.group === group && r.version === version);
  if (list.length === 0) return undefined;
  return {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(list[0]!),
    resources: list.flatMap((r) => [
      { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: verbsFor(r),
        ...(r.shortNames.length > 0 && { shortNames: r.shortNames }), ...(r.categories.length > 0 && { categories: r.categories }) },
      ...r.subresources.map((sub) => subresourceEntry(r, sub)),
    ]),
  };
}
