// What the dashboard shows, derived from API objects: pure functions, tested without a browser.
// Every state has a word and an icon, never only a colour (projectors and colour-blind viewers).
import type { Node } from '../api/core.ts';
import type { Condition, KubeObject } from '../api/meta.ts';
import { quantityValue } from '../api/quantity.ts';
import type { DashboardPod } from './pod-projection.ts';

// From api/node-usage.ts, repeated here because that module brings TypeBox's schemas into the
// page's bundle; test/ui/derive.test.ts checks the two stay the same.
export const boardModelAnnotation = 'labkube.io/board-model';
export const cpuTemperatureAnnotation = 'labkube.io/cpu-temperature';

/** A pod cut to the fields the page reads (pod-projection.ts). */
export type PodObject = DashboardPod & KubeObject;
export type NodeObject = Node & KubeObject;

/** The tone picks a colour; the word and icon carry the meaning on their own. */
export type Tone = 'ok' | 'busy' | 'bad' | 'idle';
export interface PodState { word: string; icon: string; tone: Tone }

const waitingBad = new Set(['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerError', 'InvalidImageName', 'RunContainerError']);

/** The word `kubectl get pods` prints in its STATUS column, with an icon and a tone. */
export function podState(pod: PodObject): PodState {
  if (pod.metadata.deletionTimestamp) return { word: 'Terminating', icon: '⊗', tone: 'idle' };
  const statuses = pod.status?.containerStatuses ?? [];
  for (const c of statuses) {
    const waiting = c.state?.waiting?.reason;
    if (waiting && waitingBad.has(waiting)) return { word: waiting, icon: '✖', tone: 'bad' };
  }
  for (const c of statuses) {
    const waiting = c.state?.waiting?.reason;
    if (waiting) return { word: waiting, icon: '◌', tone: 'busy' };
  }
  switch (pod.status?.phase) {
    case 'Running': {
      const ready = statuses.length > 0 && statuses.every((c) => c.ready);
      return ready ? { word: 'Running', icon: '●', tone: 'ok' } : { word: 'NotReady', icon: '◐', tone: 'busy' };
    }
    case 'Succeeded': return { word: 'Completed', icon: '✔', tone: 'idle' };
    case 'Failed': return { word: pod.status?.reason ?? 'Failed', icon: '✖', tone: 'bad' };
    case 'Unknown': return { word: 'Unknown', icon: '?', tone: 'bad' };
    default:
      return pod.spec.nodeName ? { word: 'ContainerCreating', icon: '◌', tone: 'busy' } : { word: 'Pending', icon: '◔', tone: 'busy' };
  }
}

export const restartsOf = (pod: PodObject) => (pod.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);

/** The Deployment a pod belongs to (its ReplicaSet's name less the template hash), else its owner, else none. */
export function workloadOf(pod: PodObject): string {
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  if (!owner) return '(no workload)';
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) return owner.name.slice(0, -hash.length - 1);
  return owner.name;
}

/** Why the scheduler left a pod unscheduled, from its PodScheduled condition. */
export function waitingReason(pod: PodObject): string {
  const c = pod.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False');
  return c?.message ?? c?.reason ?? 'waiting for the scheduler';
}

export const condition = (obj: { status?: { conditions?: Condition[] } }, type: string) => obj.status?.conditions?.find((c) => c.type === type);

export interface NodeView {
  name: string;
  /** As kubectl prints it: a Ready condition of Unknown (no heartbeats) is NotReady too. */
  ready: 'Ready' | 'NotReady';
  /** Why, from the condition: "NodeStatusUnknown", "KubeletNotReady". */
  reason?: string;
  /** When Ready last changed, ms since the epoch. */
  since?: number;
  cordoned: boolean;
  arch?: string;
  model?: string;
  ip?: string;
  cpuCores?: number;
  memoryBytes?: number;
  /** Extended resources a board offers (device plugins): name -> count. */
  devices: [string, string][];
}

export function nodeView(node: NodeObject): NodeView {
  const ready = condition(node, 'Ready');
  const view: NodeView = {
    name: node.metadata.name!,
    ready: ready?.status === 'True' ? 'Ready' : 'NotReady',
    cordoned: node.spec?.unschedulable === true,
    devices: Object.entries(node.status?.capacity ?? {}).filter(([k]) => k.includes('/')).map(([k, v]) => [k, String(v)]),
  };
  if (ready?.status !== 'True' && ready?.reason) view.reason = ready.reason;
  const since = ready?.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : NaN;
  if (Number.isFinite(since)) view.since = since;
  const arch = node.metadata.labels?.['kubernetes.io/arch'] ?? node.status?.nodeInfo?.architecture;
  if (arch) view.arch = arch;
  const model = node.metadata.annotations?.[boardModelAnnotation];
  if (model) view.model = model;
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (ip) view.ip = ip;
  const cpu = quantity(node.status?.capacity?.cpu);
  const memory = quantity(node.status?.capacity?.memory);
  if (cpu !== undefined) view.cpuCores = cpu;
  if (memory !== undefined) view.memoryBytes = memory;
  return view;
}

/** A quantity's value, or undefined for a missing or unparseable one (shown as "—"). */
export function quantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  try {
    return quantityValue(q);
  } catch {
    return undefined;
  }
}

/** "45 s", "12 min", "3 h", "2 d": how long, readable from the back of a room. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

export const percent = (part: number, whole: number | undefined) => (whole ? `${Math.round((part / whole) * 100)}%` : '—');
