// Scores: among the nodes that fit, which is best? Each score is 0..100 per node, already
// normalised across the candidate nodes; the scheduler adds them up with the weights below.
// Pure functions of the pod and the candidate nodes' infos.
import type { Pod } from '../api/core.ts';
import type { NodeInfo } from './node-info.ts';
import type { PodInfo } from './pod-info.ts';
import { isTolerated } from './taints.ts';

export const maxScore = 100;

export type Score = (pod: Pod, info: PodInfo, nodes: readonly NodeInfo[]) => number[];

/** Fewer pods of the pod's group on a node scores higher: replicas spread across boards. */
export const spreadScore: Score = (_pod, info, nodes) => {
  const group = info.group;
  if (!group) return nodes.map(() => maxScore);
  const counts = nodes.map((n) => n.groups.get(group) ?? 0);
  const max = Math.max(0, ...counts);
  return counts.map((c) => (max === 0 ? maxScore : Math.floor((maxScore * (max - c)) / max)));
};

/** The node with the most CPU and memory left after placing the pod scores higher. */
export const leastAllocatedScore: Score = (_pod, info, nodes) => nodes.map((n) => {
  const free = (allocatable: number, requested: number) =>
    (allocatable <= 0 || requested > allocatable ? 0 : ((allocatable - requested) * maxScore) / allocatable);
  const cpu = free(n.allocatable.milliCPU, n.nonZeroRequested.milliCPU + info.nonZeroRequests.milliCPU);
  const memory = free(n.allocatable.memory, n.nonZeroRequested.memory + info.nonZeroRequests.memory);
  return Math.floor((cpu + memory) / 2);
});

// Kubernetes' ImageLocality thresholds: images under 23 MB barely matter, 1000 MB per container is the most.
const minImageBytes = 23 * 1024 * 1024;
const maxImageBytesPerContainer = 1000 * 1024 * 1024;

/**
 * A node that already has the pod's images scores higher, by their size, scaled down for images
 * most nodes have anyway (Kubernetes' ImageLocality).
 */
export const imageLocalityScore: Score = (_pod, info, nodes) => {
  const total = nodes.length;
  const spread = new Map(info.images.map((image) => [image, nodes.filter((n) => n.images.has(image)).length / total]));
  const maxBytes = maxImageBytesPerContainer * info.images.length;
  return nodes.map((n) => {
    let sum = 0;
    for (const image of info.images) {
      const size = n.images.get(image);
      if (size !== undefined) sum += size * (spread.get(image) ?? 0);
    }
    const clamped = Math.min(Math.max(sum, minImageBytes), maxBytes);
    return Math.floor((maxScore * (clamped - minImageBytes)) / (maxBytes - minImageBytes));
  });
};

/** Fewer PreferNoSchedule taints the pod does not tolerate scores higher. */
export const preferNoScheduleScore: Score = (pod, _info, nodes) => {
  const counts = nodes.map((n) => (n.node.spec?.taints ?? [])
    .filter((t) => t.effect === 'PreferNoSchedule' && !isTolerated(pod.spec.tolerations, t)).length);
  const max = Math.max(0, ...counts);
  return counts.map((c) => (max === 0 ? maxScore : Math.floor((maxScore * (max - c)) / max)));
};

export interface WeightedScore { name: string; weight: number; score: Score }

// Spreading replicas matters most (a lab wants one nginx per board); then avoiding soft taints
// (Kubernetes weighs TaintToleration 3); then free resources and image locality (weight 1 upstream).
export const defaultScores: readonly WeightedScore[] = [
  { name: 'Spread', weight: 4, score: spreadScore },
  { name: 'TaintToleration', weight: 3, score: preferNoScheduleScore },
  { name: 'LeastAllocated', weight: 1, score: leastAllocatedScore },
  { name: 'ImageLocality', weight: 1, score: imageLocalityScore },
];

/** The weighted total per node, in the order of `nodes`. */
export function scoreNodes(pod: Pod, info: PodInfo, nodes: readonly NodeInfo[], scores: readonly WeightedScore[] = defaultScores): number[] {
  const totals = nodes.map(() => 0);
  for (const { weight, score } of scores) {
    const values = score(pod, info, nodes);
    for (let i = 0; i < totals.length; i++) totals[i]! += weight * values[i]!;
  }
  return totals;
}

/** The index of the best total; ties go to a random one of them, as upstream, so equal nodes share load. */
export function selectHost(totals: readonly number[], random: () => number = Math.random): number {
  let best = -1;
  let ties = 0;
  for (let i = 0; i < totals.length; i++) {
    if (best < 0 || totals[i]! > totals[best]!) { best = i; ties = 1; }
    else if (totals[i] === totals[best] && random() * ++ties < 1) best = i;
  }
  return best;
}
