// Hook: turn what the engine runs into the pod status Kubernetes would report: container states
// with their reasons, restart counts, the phase (as the kubelet's getPhase computes it), IPs and
// the four pod conditions. Pure: the worker writes the result only when it differs.
import type { Container, ContainerState, ContainerStatus, Pod, PodPhase } from '../../control-plane/api/core.ts';
import type { Condition } from '../../control-plane/api/meta.ts';
import { deepEqual, setCondition, timestamp } from '../../control-plane/api/objects.ts';
import { labelKeys, type ContainerInfo } from '../runtime/types.ts';

export type PodStatus = NonNullable<Pod['status']>;

/** What the worker knows about one of the pod's containers. */
export interface ContainerObservation {
  spec: Container;
  /** The newest engine container for it, and the one before (for lastState). */
  current?: ContainerInfo;
  previous?: ContainerInfo;
  /** Why it is not running, when the worker knows better than the engine (pulling, backing off). */
  waiting?: { reason: string; message?: string };
  ready: boolean;
  started: boolean;
}

export interface ReportContext {
  hostIp: string; now?: Date; failure?: { reason: string; message: string };
  /** The sandbox's address (or the node's, for a host-network pod); otherwise a running container's. */
  podIp?: string;
}

export const restartCountOf = (c: ContainerInfo | undefined): number => Number(c?.labels[labelKeys.restartCount] ?? 0) || 0;

export function terminatedState(c: ContainerInfo): ContainerState {
  const reason = c.oomKilled ? 'OOMKilled' : c.exitCode === 0 && !c.error ? 'Completed' : c.error ? 'StartError' : 'Error';
  return {
    terminated: {
      exitCode: c.exitCode, reason, ...(c.error && { message: c.error }),
      ...(c.startedAt && { startedAt: c.startedAt.replace(/\.\d+Z$/, 'Z') }),
      ...(c.finishedAt && { finishedAt: c.finishedAt.replace(/\.\d+Z$/, 'Z') }),
      containerID: `docker://${c.id}`,
    },
  };
}

const isExited = (c: ContainerInfo) => c.status === 'exited' || c.status === 'dead' || (c.status === 'created' && !!c.error);

export function containerStatus(o: ContainerObservation): ContainerStatus {
  const c = o.current;
  let state: ContainerState;
  let lastState: ContainerState | undefined;
  if (c?.status === 'running') {
    state = { running: { ...(c.startedAt && { startedAt: c.startedAt.replace(/\.\d+Z$/, 'Z') }) } };
    if (o.previous && isExited(o.previous)) lastState = terminatedState(o.previous);
  } else if (o.waiting) {
    state = { waiting: { reason: o.waiting.reason, ...(o.waiting.message && { message: o.waiting.message }) } };
    if (c && isExited(c)) lastState = terminatedState(c);
  } else if (c && isExited(c)) {
    state = terminatedState(c);
    if (o.previous && isExited(o.previous)) lastState = terminatedState(o.previous);
  } else {
    state = { waiting: { reason: 'ContainerCreating' } };
  }
  return {
    name: o.spec.name, state, ...(lastState && { lastState }),
    ready: c?.status === 'running' && o.ready, started: c?.status === 'running' && o.started,
    restartCount: restartCountOf(c), image: o.spec.image,
    imageID: c ? `docker://${c.imageId}` : '',
    ...(c && { containerID: `docker://${c.id}` }),
  };
}

/** The kubelet's getPhase for pods without init containers. */
export function podPhase(statuses: ContainerStatus[], restartPolicy: string): PodPhase {
  let waiting = 0; let running = 0; let stopped = 0; let succeeded = 0;
  for (const s of statuses) {
    if (s.state?.running) running++;
    else if (s.state?.terminated) { stopped++; if (s.state.terminated.exitCode === 0) succeeded++; }
    else if (s.lastState?.terminated) stopped++; // waiting to restart after a crash
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === 0) return 'Pending';
  if (restartPolicy === 'Always') return 'Running';
  if (stopped === succeeded) return 'Succeeded';
  return restartPolicy === 'Never' ? 'Failed' : 'Running';
}

export function buildPodStatus(pod: Pod, observations: ContainerObservation[], ctx: ReportContext): PodStatus {
  const now = timestamp(ctx.now);
  const containerStatuses = observations.map(containerStatus);
  let phase = ctx.failure ? 'Failed' as const : podPhase(containerStatuses, pod.spec.restartPolicy ?? 'Always');
  // A finished pod stays finished, as in Kubernetes: phases only move forward.
  const before = pod.status?.phase;
  if (before === 'Succeeded' || before === 'Failed') phase = before;
  const allReady = containerStatuses.every((s) => s.ready);
  const done = phase === 'Succeeded' || phase === 'Failed';
  const notReady = (type: string) => ({
    type, status: 'False' as const,
    reason: done ? 'PodCompleted' : 'ContainersNotReady',
    message: done ? undefined : `containers with unready status: [${containerStatuses.filter((s) => !s.ready).map((s) => s.name).join(' ')}]`,
  });
  let conditions: Condition[] | undefined = pod.status?.conditions;
  const set = (c: Condition) => { conditions = setCondition(conditions, Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as Condition, now); };
  set({ type: 'PodScheduled', status: 'True' });
  set({ type: 'Initialized', status: 'True' });
  set(allReady && !done ? { type: 'ContainersReady', status: 'True' } : notReady('ContainersReady'));
  set(allReady && !done ? { type: 'Ready', status: 'True' } : notReady('Ready'));
  const ip = ctx.podIp ?? observations.map((o) => o.current?.status === 'running' ? o.current.ip : undefined).find(Boolean) ?? pod.status?.podIP;
  return {
    ...pod.status, phase, conditions, hostIP: ctx.hostIp,
    ...(ip && { podIP: ip, podIPs: [{ ip }] }),
    startTime: pod.status?.startTime ?? now,
    containerStatuses,
    ...(ctx.failure ? { reason: ctx.failure.reason, message: ctx.failure.message } : {}),
  };
}

/** Whether writing `next` would change anything (condition times move only with their status). */
export function statusChanged(current: PodStatus | undefined, next: PodStatus): boolean {
  return !deepEqual(current, next);
}
