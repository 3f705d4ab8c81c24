// Fixtures for the scheduler's pure filter and score tests.
import type { Node, Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { nodeInfoWithPods, type NodeInfo } from '../../control-plane/scheduler/node-info.ts';
import { newPodInfo } from '../../control-plane/scheduler/pod-info.ts';
import type { Watchable } from '../../control-plane/scheduler/scheduler.ts';

export type TestPod = Pod & KubeObject;
export type TestNode = Node & KubeObject;

let counter = 0;

export function makePod(spec: Partial<Pod['spec']> = {}, meta: Partial<Pod['metadata']> = {}): TestPod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `pod-${++counter}`, namespace: 'default', uid: `uid-${counter}`, ...meta },
    spec: { containers: [{ name: 'c', image: 'nginx:1.27' }], ...spec },
  };
}

export function withRequests(cpu?: string, memory?: string, extra: Partial<Pod['spec']> = {}): TestPod {
  const requests: Record<string, string> = {};
  if (cpu) requests.cpu = cpu;
  if (memory) requests.memory = memory;
  return makePod({ containers: [{ name: 'c', image: 'nginx:1.27', resources: { requests } }], ...extra });
}

export interface NodeOptions {
  cpu?: string; memory?: string; pods?: string; arch?: string; labels?: Record<string, string>;
  ready?: 'True' | 'False' | 'Unknown'; unschedulable?: boolean; taints?: NonNullable<Node['spec']>['taints'];
  images?: { names: string[]; sizeBytes?: number }[]; annotations?: Record<string, string>;
}

export function makeNode(name: string, o: NodeOptions = {}): TestNode {
  const allocatable = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' };
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: {
      name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/arch': o.arch ?? 'amd64', 'kubernetes.io/os': 'linux', ...o.labels },
      ...(o.annotations && { annotations: o.annotations }),
    },
    spec: { ...(o.unschedulable && { unschedulable: true }), ...(o.taints && { taints: o.taints }) },
    status: {
      capacity: allocatable, allocatable,
      conditions: [{ type: 'Ready', status: o.ready ?? 'True' }],
      ...(o.images && { images: o.images }),
    },
  };
}

export function nodeInfo(name: string, o: NodeOptions = {}, pods: TestPod[] = []): NodeInfo {
  return nodeInfoWithPods(makeNode(name, o), pods.map(newPodInfo));
}

type Handlers<T> = { add?: (o: T) => void; update?: (a: T, b: T) => void; delete?: (o: T) => void };
/** An informer the test drives: `add`, `update` and `remove` fire the handlers as a watch would. */
export class FakeInformer<T extends KubeObject> implements Watchable<T> {
  readonly items = new Map<string, T>();
  private handlers: Handlers<T>[] = [];
  on(h: Handlers<T>) { this.handlers.push(h); return this; }
  get(key: string) { return this.items.get(key); }
  list() { return [...this.items.values()]; }
  key(o: T) { return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!; }
  add(o: T) { this.items.set(this.key(o), o); this.handlers.forEach((h) => h.add?.(o)); }
  update(o: T) { const old = this.items.get(this.key(o))!; this.items.set(this.key(o), o); this.handlers.forEach((h) => h.update?.(old, o)); }
  remove(o: T) { this.items.delete(this.key(o)); this.handlers.forEach((h) => h.delete?.(o)); }
}

