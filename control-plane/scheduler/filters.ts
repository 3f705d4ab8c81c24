// Filters: can this pod run on this node at all? Each returns the reasons it cannot (empty when
// it can), worded as Kubernetes' scheduler words them, so `describe pod` reads the same.
// Pure functions of the pod, the node's info and what the cluster knows about images.
import type { NodeSelectorRequirement, Pod } from '../api/core.ts';
import { taintNodeUnschedulable } from '../api/well-known.ts';
import { nodePlatform } from './image-platforms.ts';
import { hostPortsConflict, type PodInfo } from './pod-info.ts';
import type { NodeInfo } from './node-info.ts';
import { firstUntolerated, isTolerated, taintText } from './taints.ts';

export interface ClusterContext {
  /** Normalised image -> os/arch platforms it exists for, merged from every node's report. */
  imagePlatforms: Map<string, Set<string>>;
}

export type Filter = (pod: Pod, info: PodInfo, node: NodeInfo, cluster: ClusterContext) => string[];

export const reasons = {
  unschedulable: 'node(s) were unschedulable',
  notReady: 'node(s) were not ready',
  affinity: "node(s) didn't match Pod's node affinity/selector",
  ports: "node(s) didn't have free ports for the requested pod ports",
  platform: "node(s) didn't match the image's platform",
  cpu: 'Insufficient cpu',
  memory: 'Insufficient memory',
  pods: 'Too many pods',
  taint: (text: string) => `node(s) had untolerated taint ${text}`,
} as const;

const none: string[] = [];

export const nodeUnschedulable: Filter = (pod, _info, { node }) => {
  if (!node.spec?.unschedulable) return none;
  const tolerated = isTolerated(pod.spec.tolerations, { key: taintNodeUnschedulable, effect: 'NoSchedule' });
  return tolerated ? none : [reasons.unschedulable];
};

export const nodeReady: Filter = (_pod, _info, { node }) => {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'True' ? none : [reasons.notReady];
};

export const taintToleration: Filter = (pod, _info, { node }) => {
  const taint = firstUntolerated(node.spec?.taints, pod.spec.tolerations, ['NoSchedule', 'NoExecute']);
  return taint ? [reasons.taint(taintText(taint))] : none;
};

function requirementMatches(req: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In': return value !== undefined && values.includes(value);
    case 'NotIn': return value === undefined || !values.includes(value);
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || values.length !== 1 || !/^-?\d+$/.test(value) || !/^-?\d+$/.test(values[0]!)) return false;
      return req.operator === 'Gt' ? Number(value) > Number(values[0]) : Number(value) < Number(values[0]);
    }
  }
}

/** nodeSelector AND (any of the required terms); a term ANDs its expressions; an empty term matches nothing. */
export function matchesNodeSelectorAndAffinity(pod: Pod, node: NodeInfo['node']): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [key, value] of Object.entries(pod.spec.nodeSelector ?? {})) {
    if (labels[key] !== value) return false;
  }
  const required = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return required.nodeSelectorTerms.some((term) => {
    const exprs = term.matchExpressions ?? [];
    const fields = term.matchFields ?? [];
    if (exprs.length === 0 && fields.length === 0) return false;
    const has = (key: string) => (Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : undefined);
    return exprs.every((req) => requirementMatches(req, has(req.key))) &&
      fields.every((req) => req.key === 'metadata.name' && requirementMatches(req, node.metadata.name));
  });
}

export const nodeAffinity: Filter = (pod, _info, { node }) => (matchesNodeSelectorAndAffinity(pod, node) ? none : [reasons.affinity]);

export const nodePorts: Filter = (_pod, info, node) => {
  if (info.hostPorts.length === 0 || node.hostPorts.size === 0) return none;
  for (const wanted of info.hostPorts) {
    for (const used of node.hostPorts.keys()) if (hostPortsConflict(wanted, used)) return [reasons.ports];
  }
  return none;
};

export const nodeResourcesFit: Filter = (_pod, info, node) => {
  const out: string[] = [];
  if (node.podCount + 1 > node.allocatable.pods) out.push(reasons.pods);
  if (info.requests.milliCPU > 0 && node.requested.milliCPU + info.requests.milliCPU > node.allocatable.milliCPU) out.push(reasons.cpu);
  if (info.requests.memory > 0 && node.requested.memory + info.requests.memory > node.allocatable.memory) out.push(reasons.memory);
  return out;
};

/** When any node knows an image's platforms, only nodes running one of them may run the pod. */
export const imagePlatform: Filter = (_pod, info, node, cluster) => {
  if (cluster.imagePlatforms.size === 0) return none;
  const platform = nodePlatform(node.node);
  for (const image of info.images) {
    const platforms = cluster.imagePlatforms.get(image);
    if (platforms && !platforms.has(platform)) return [reasons.platform];
  }
  return none;
};

/** In Kubernetes' default order; the first filter that fails decides the node's reasons. */
export const defaultFilters: readonly Filter[] = [
  nodeUnschedulable, nodeReady, taintToleration, nodeAffinity, imagePlatform, nodePorts, nodeResourcesFit,
];

export function filterNode(pod: Pod, info: PodInfo, node: NodeInfo, cluster: ClusterContext,
  filters: readonly Filter[] = defaultFilters): string[] {
  for (const filter of filters) {
    const failed = filter(pod, info, node, cluster);
    if (failed.length > 0) return failed;
  }
  return none;
}

/**
 * Kubernetes' FitError message: `0/3 nodes are available: 1 node(s) were unschedulable,
 * 2 Insufficient memory.` Each reason counted over nodes, `count reason` strings sorted.
 */
export function unschedulableMessage(totalNodes: number, reasonsByNode: Iterable<readonly string[]>): string {
  if (totalNodes === 0) return 'no nodes available to schedule pods';
  const counts = new Map<string, number>();
  for (const list of reasonsByNode) for (const r of list) counts.set(r, (counts.get(r) ?? 0) + 1);
  const parts = [...counts].map(([reason, n]) => `${n} ${reason}`).sort();
  return `0/${totalNodes} nodes are available${parts.length > 0 ? `: ${parts.join(', ')}.` : '.'}`;
}
