// What the scheduler needs to know about a pod, computed once per pod: its resource requests,
// host ports, owner group (for spreading) and images.
import type { Pod } from '../api/core.ts';
import { intValue, isQuantity, milliValue } from '../api/quantity.ts';
import { normalizeImage } from './image-platforms.ts';

// Kubernetes scores a container without requests as if it asked for 100m CPU and 200 MB, so
// best-effort pods still spread by "least allocated" (pkg/scheduler/util/pod_resources.go).
export const defaultMilliCPURequest = 100;
export const defaultMemoryRequest = 200 * 1024 * 1024;

export interface Resources { milliCPU: number; memory: number }

export interface PodInfo {
  key: string;
  /** What the pod asks for: counted against allocatable by the fit filter. */
  requests: Resources;
  /** Requests with the defaults above for containers that ask for nothing: used for scores. */
  nonZeroRequests: Resources;
  /** `protocol/hostIP/port` for every container port with a hostPort. */
  hostPorts: string[];
  /** Pods with the same group are spread across nodes: the controller owner, or the labels. */
  group: string | undefined;
  images: string[];
}

const quantityOr0 = (q: unknown, parse: (v: string | number) => number): number => (isQuantity(q) ? parse(q) : 0);

export function podRequests(pod: Pod): { requests: Resources; nonZeroRequests: Resources } {
  const requests = { milliCPU: 0, memory: 0 };
  const nonZeroRequests = { milliCPU: 0, memory: 0 };
  for (const c of pod.spec.containers) {
    const r = c.resources?.requests ?? {};
    const l = c.resources?.limits ?? {};
    // A limit without a request is the request too, as Kubernetes defaults it.
    const cpu = r.cpu ?? l.cpu;
    const memory = r.memory ?? l.memory;
    const milliCPU = quantityOr0(cpu, milliValue);
    const bytes = quantityOr0(memory, intValue);
    requests.milliCPU += milliCPU;
    requests.memory += bytes;
    nonZeroRequests.milliCPU += cpu === undefined ? defaultMilliCPURequest : milliCPU;
    nonZeroRequests.memory += memory === undefined ? defaultMemoryRequest : bytes;
  }
  return { requests, nonZeroRequests };
}

export function podHostPorts(pod: Pod): string[] {
  const ports: string[] = [];
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      if (p.hostPort) ports.push(`${p.protocol ?? 'TCP'}/${p.hostIP || '0.0.0.0'}/${p.hostPort}`);
    }
  }
  return ports;
}

/** Two host ports conflict on the same protocol and port when either binds all addresses. */
export function hostPortsConflict(a: string, b: string): boolean {
  const [pa, ipa, porta] = a.split('/');
  const [pb, ipb, portb] = b.split('/');
  return pa === pb && porta === portb && (ipa === ipb || ipa === '0.0.0.0' || ipb === '0.0.0.0');
}

/**
 * The spread group: pods of one ReplicaSet (its controller's uid); for a pod without a
 * controller, pods with the same labels in the same namespace (hand-made replicas).
 */
export function podGroup(pod: Pod): string | undefined {
  const ns = pod.metadata.namespace ?? '';
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  if (owner) return `${ns}/owner/${owner.uid}`;
  const labels = pod.metadata.labels;
  if (!labels || Object.keys(labels).length === 0) return undefined;
  return `${ns}/labels/${Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',')}`;
}

export function podKey(pod: Pod): string { return `${pod.metadata.namespace}/${pod.metadata.name}`; }

export function newPodInfo(pod: Pod): PodInfo {
  return {
    key: podKey(pod),
    ...podRequests(pod),
    hostPorts: podHostPorts(pod),
    group: podGroup(pod),
    images: pod.spec.containers.map((c) => normalizeImage(c.image)),
  };
}
