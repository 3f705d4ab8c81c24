// The scheduler's view of one node: the Node object plus what the pods on it (bound or assumed)
// already take. Kept up to date incrementally from pod and node events, never re-listed.
import type { Node } from '../api/core.ts';
import { intValue, isQuantity, milliValue } from '../api/quantity.ts';
import { normalizeImage, nodeImagePlatforms } from './image-platforms.ts';
import type { PodInfo, Resources } from './pod-info.ts';

export interface NodeInfo {
  name: string;
  node: Node;
  allocatable: Resources & { pods: number };
  requested: Resources;
  nonZeroRequested: Resources;
  podCount: number;
  /** Host port (`protocol/ip/port`) -> how many pods use it. */
  hostPorts: Map<string, number>;
  /** Spread group -> how many of its pods are on the node. */
  groups: Map<string, number>;
  /** Normalised image name -> size in bytes, from status.images. */
  images: Map<string, number>;
  imagePlatforms: Map<string, Set<string>>;
}

// A node that reports no allocatable pods count gets Kubernetes' kubelet default, 110.
const defaultMaxPods = 110;

function allocatableOf(node: Node): NodeInfo['allocatable'] {
  const a = node.status?.allocatable ?? node.status?.capacity ?? {};
  return {
    milliCPU: isQuantity(a.cpu) ? milliValue(a.cpu) : 0,
    memory: isQuantity(a.memory) ? intValue(a.memory) : 0,
    pods: isQuantity(a.pods) ? intValue(a.pods) : defaultMaxPods,
  };
}

function imagesOf(node: Node): Map<string, number> {
  const images = new Map<string, number>();
  for (const image of node.status?.images ?? []) {
    for (const name of image.names) images.set(normalizeImage(name), image.sizeBytes ?? 0);
  }
  return images;
}

export function newNodeInfo(node: Node): NodeInfo {
  return {
    name: node.metadata.name!, node, allocatable: allocatableOf(node),
    requested: { milliCPU: 0, memory: 0 }, nonZeroRequested: { milliCPU: 0, memory: 0 }, podCount: 0,
    hostPorts: new Map(), groups: new Map(), images: imagesOf(node), imagePlatforms: nodeImagePlatforms(node),
  };
}

/** Replaces the Node object, keeping the pod accounting. */
export function setNode(info: NodeInfo, node: Node): void {
  info.node = node;
  info.allocatable = allocatableOf(node);
  info.images = imagesOf(node);
  info.imagePlatforms = nodeImagePlatforms(node);
}

const bump = (map: Map<string, number>, key: string, by: number) => {
  const n = (map.get(key) ?? 0) + by;
  if (n > 0) map.set(key, n);
  else map.delete(key);
};

export function addPod(info: NodeInfo, pod: PodInfo): void { account(info, pod, 1); }
export function removePod(info: NodeInfo, pod: PodInfo): void { account(info, pod, -1); }

function account(info: NodeInfo, pod: PodInfo, sign: 1 | -1): void {
  info.requested.milliCPU += sign * pod.requests.milliCPU;
  info.requested.memory += sign * pod.requests.memory;
  info.nonZeroRequested.milliCPU += sign * pod.nonZeroRequests.milliCPU;
  info.nonZeroRequested.memory += sign * pod.nonZeroRequests.memory;
  info.podCount += sign;
  for (const port of pod.hostPorts) bump(info.hostPorts, port, sign);
  if (pod.group) bump(info.groups, pod.group, sign);
}

/** A NodeInfo holding `pods`: fixtures for filter and score tests. */
export function nodeInfoWithPods(node: Node, pods: PodInfo[]): NodeInfo {
  const info = newNodeInfo(node);
  for (const p of pods) addPod(info, p);
  return info;
}
