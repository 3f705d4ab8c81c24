// Pod: a spec fixed at creation but for images and added tolerations, a status its node reports,
// and a graceful delete that waits for the node to confirm the containers stopped.
import { InvalidError } from '../errors.ts';
import { Pod, type PodSpec } from '../core.ts';
import type { Condition, KubeObject } from '../meta.ts';
import { deepEqual } from '../objects.ts';
import { age, ageCol, col, nameCol, none, wide, type PrinterColumn } from './columns.ts';
import { podSpecDefaults, podSpecErrors } from './pod-spec.ts';
import { resource, type KindStrategy } from './strategy.ts';

// Kubernetes' default grace period for a pod without terminationGracePeriodSeconds.
const defaultPodGraceSeconds = 30;

/** Kubernetes' QoS class from the containers' requests and limits: the order in which a node evicts. */
function qosClass(pod: KubeObject): string {
  const containers = (pod.spec as { containers: { resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> } }[] }).containers;
  const all = containers.map((c) => c.resources ?? {});
  if (all.every((res) => !res.limits && !res.requests)) return 'BestEffort';
  const guaranteed = all.every((res) => res.limits?.cpu !== undefined && res.limits?.memory !== undefined &&
    (res.requests?.cpu ?? res.limits.cpu) === res.limits.cpu && (res.requests?.memory ?? res.limits.memory) === res.limits.memory);
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/**
 * A pod's spec is fixed once created, as in Kubernetes: only container images may change and
 * tolerations may be added (the node a pod runs on is set once, through the binding).
 */
function checkPodSpecUpdate(current: KubeObject, next: KubeObject): void {
  type Spec = { containers?: { image?: string }[]; tolerations?: unknown[]; nodeName?: string };
  const mutable = (spec: Spec | undefined, tolerations: unknown[] | undefined) => ({
    ...spec,
    containers: Array.isArray(spec?.containers) ? spec.containers.map((c) => ({ ...c, image: undefined })) : spec?.containers,
    tolerations,
  });
  const was = current.spec as Spec;
  const now = next.spec as Spec | undefined;
  const kept = (was.tolerations ?? []).every((t) => (now?.tolerations ?? []).some((n) => deepEqual(n, t)));
  if (!kept || !deepEqual(mutable(was, undefined), mutable(now, undefined))) {
    throw new InvalidError('Pod', current.metadata.name!, [{
      reason: 'FieldValueForbidden', field: 'spec',
      message: 'Forbidden: pod updates may not change fields other than `spec.containers[*].image` and `spec.tolerations` (only additions to existing tolerations)',
    }]);
  }
}

interface ContainerStateView {
  waiting?: { reason?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode: number; signal?: number; reason?: string; finishedAt?: string };
}
interface PodView {
  metadata: KubeObject['metadata'];
  spec?: { containers?: { name: string; image?: string }[]; nodeName?: string };
  status?: {
    phase?: string; reason?: string; podIP?: string; conditions?: Condition[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number; state?: ContainerStateView; lastState?: ContainerStateView }[];
  };
}

export interface PodSummary { ready: string; status: string; restarts: number; lastRestart?: string }

/** READY, STATUS and RESTARTS of a pod, by kubectl's rules (printPod). */
export function podSummary(obj: KubeObject): PodSummary {
  const pod = obj as unknown as PodView;
  const total = pod.spec?.containers?.length ?? 0;
  const status = pod.status ?? {};
  let reason = status.reason || status.phase || 'Pending';
  let readyCount = 0;
  let restarts = 0;
  let hasRunning = false;
  let lastRestart: string | undefined;
  const statuses = status.containerStatuses ?? [];
  for (let i = statuses.length - 1; i >= 0; i--) {
    const c = statuses[i]!;
    restarts += c.restartCount ?? 0;
    const finished = c.lastState?.terminated?.finishedAt;
    if (finished && (!lastRestart || finished > lastRestart)) lastRestart = finished;
    const state = c.state ?? {};
    if (state.waiting?.reason) reason = state.waiting.reason;
    else if (state.terminated?.reason) reason = state.terminated.reason;
    else if (state.terminated) reason = state.terminated.signal ? `Signal:${state.terminated.signal}` : `ExitCode:${state.terminated.exitCode}`;
    else if (c.ready && state.running) { hasRunning = true; readyCount++; }
  }
  if (reason === 'Completed' && hasRunning) {
    reason = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady';
  }
  const terminal = status.phase === 'Succeeded' || status.phase === 'Failed';
  if (pod.metadata.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata.deletionTimestamp && !terminal) reason = 'Terminating';
  return { ready: `${readyCount}/${total}`, status: reason, restarts, ...(lastRestart && { lastRestart }) };
}

const podColumns: PrinterColumn[] = [
  nameCol,
  col('Ready', (o) => podSummary(o).ready, { description: 'The aggregate readiness state of this pod for accepting traffic.' }),
  col('Status', (o) => podSummary(o).status, { description: 'The aggregate status of the containers in this pod.' }),
  col('Restarts', (o, now) => {
    const s = podSummary(o);
    return s.lastRestart ? `${s.restarts} (${age(s.lastRestart, now)} ago)` : String(s.restarts);
  }, { description: 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.' }),
  ageCol,
  wide('IP', (o) => none((o.status as PodView['status'])?.podIP)),
  wide('Node', (o) => none((o.spec as PodView['spec'])?.nodeName)),
  wide('Nominated Node', () => '<none>'),
  wide('Readiness Gates', () => '<none>'),
];

export const podStrategy: KindStrategy = {
  resource: resource({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], categories: ['all'], schema: Pod,
    subresources: ['status', 'binding', 'log', 'eviction'] }),
  columns: podColumns,
  defaults: (obj) => podSpecDefaults(obj.spec),
  validate: (obj, invalid) => podSpecErrors(obj.spec as PodSpec, 'spec', invalid),
  prepareForCreate(obj, now) {
    const nodeName = (obj.spec as { nodeName?: string }).nodeName;
    obj.status = { phase: 'Pending', qosClass: qosClass(obj),
      ...(nodeName && { conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: now }] }) };
  },
  validateUpdate: checkPodSpecUpdate,
  gracePeriodSeconds(obj, requested) {
    const spec = obj.spec as { nodeName?: string; terminationGracePeriodSeconds?: number };
    const phase = (obj.status as { phase?: string } | undefined)?.phase;
    // A pod that never reached a node, or already finished, has nothing to stop: delete it now.
    if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
    return Math.max(0, requested ?? spec.terminationGracePeriodSeconds ?? defaultPodGraceSeconds);
  },
  // The node's agent confirms its containers stopped by deleting the pod again with no grace period.
  readyToRemove: (obj) => obj.metadata.deletionGracePeriodSeconds === 0,
};
