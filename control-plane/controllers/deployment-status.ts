// A Deployment's status and its two conditions, as pure functions (Kubernetes'
// pkg/controller/deployment/sync.go and util): counts summed from the ReplicaSets, Available
// from maxUnavailable, and Progressing, whose lastUpdateTime is the last time the rollout moved
// and therefore what progressDeadlineSeconds is measured from.
import type { Condition } from '../api/meta.ts';
import { findCondition, timestamp } from '../api/objects.ts';
import {
  maxUnavailable, replicasOf, sumReplicas, sumStatus, type DeploymentObject,
} from './deployment-rollout.ts';
import type { ReplicaSetObject } from './replicaset.ts';

export type DeploymentStatus = NonNullable<DeploymentObject['status']>;

export const reasonNewReplicaSetCreated = 'NewReplicaSetCreated';
export const reasonFoundNewReplicaSet = 'FoundNewReplicaSet';
export const reasonReplicaSetUpdated = 'ReplicaSetUpdated';
export const reasonNewReplicaSetAvailable = 'NewReplicaSetAvailable';
export const reasonProgressDeadlineExceeded = 'ProgressDeadlineExceeded';
export const reasonMinimumReplicasAvailable = 'MinimumReplicasAvailable';
export const reasonMinimumReplicasUnavailable = 'MinimumReplicasUnavailable';
export const reasonDeploymentPaused = 'DeploymentPaused';
export const reasonDeploymentResumed = 'DeploymentResumed';

// progressDeadlineSeconds of MaxInt32 means "no deadline" in Kubernetes.
const noDeadline = 2_147_483_647;
export const hasProgressDeadline = (d: DeploymentObject): boolean => (d.spec.progressDeadlineSeconds ?? 600) !== noDeadline;

export function newCondition(type: string, status: Condition['status'], reason: string, message: string, now: Date): Condition {
  const t = timestamp(now);
  return { type, status, reason, message, lastUpdateTime: t, lastTransitionTime: t };
}

/**
 * Kubernetes' SetDeploymentCondition: the same status and reason is no change at all (so
 * lastUpdateTime stays); the same status keeps lastTransitionTime. Modifies `status`.
 */
export function setDeploymentCondition(status: DeploymentStatus, next: Condition): void {
  const current = findCondition(status.conditions, next.type);
  if (current && current.status === next.status && current.reason === next.reason) return;
  const merged = current && current.status === next.status ? { ...next, lastTransitionTime: current.lastTransitionTime ?? next.lastTransitionTime } : next;
  status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== next.type), merged];
}

export function removeDeploymentCondition(status: DeploymentStatus, type: string): void {
  if (status.conditions) status.conditions = status.conditions.filter((c) => c.type !== type);
}

/** Counts summed over the ReplicaSets, and Available: at least replicas - maxUnavailable pods available. */
export function calculateStatus(d: DeploymentObject, allRSs: ReplicaSetObject[], newRS: ReplicaSetObject | undefined,
  now: Date): DeploymentStatus {
  const available = sumStatus(allRSs, 'availableReplicas');
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation ?? 1,
    replicas: sumStatus(allRSs, 'replicas'),
    updatedReplicas: newRS ? newRS.status?.replicas ?? 0 : 0,
    readyReplicas: sumStatus(allRSs, 'readyReplicas'),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, sumReplicas(allRSs) - available),
    ...(d.status?.collisionCount !== undefined && { collisionCount: d.status.collisionCount }),
    ...(d.status?.conditions && { conditions: structuredClone(d.status.conditions) }),
  };
  if (available >= replicasOf(d) - maxUnavailable(d)) {
    setDeploymentCondition(status, newCondition('Available', 'True', reasonMinimumReplicasAvailable, 'Deployment has minimum availability.', now));
  } else {
    setDeploymentCondition(status, newCondition('Available', 'False', reasonMinimumReplicasUnavailable, 'Deployment does not have minimum availability.', now));
  }
  return status;
}

/** Every replica is updated and available, and the status describes the current spec. */
export function deploymentComplete(d: DeploymentObject, status: DeploymentStatus): boolean {
  const replicas = replicasOf(d);
  return status.updatedReplicas === replicas && status.replicas === replicas && status.availableReplicas === replicas &&
    (status.observedGeneration ?? 0) >= (d.metadata.generation ?? 1);
}

/** The rollout moved since the last status: more updated, ready or available pods, or fewer old ones. */
export function deploymentProgressing(d: DeploymentObject, next: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (next.replicas ?? 0) - (next.updatedReplicas ?? 0);
  return (next.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld ||
    (next.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (next.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

export function deploymentTimedOut(d: DeploymentObject, status: DeploymentStatus, now: Date): boolean {
  if (!hasProgressDeadline(d)) return false;
  const cond = findCondition(status.conditions, 'Progressing');
  if (!cond) return false;
  if (cond.reason === reasonNewReplicaSetAvailable) return false;
  if (cond.reason === reasonProgressDeadlineExceeded) return true;
  const from = Date.parse(cond.lastUpdateTime ?? cond.lastTransitionTime ?? '');
  return Number.isFinite(from) && from + (d.spec.progressDeadlineSeconds ?? 600) * 1000 < now.getTime();
}

/**
 * The status after a rollout step, with Progressing updated, and when to look again if the
 * rollout stalls (the moment its deadline passes). Kubernetes' syncRolloutStatus.
 */
export function rolloutStatus(d: DeploymentObject, allRSs: ReplicaSetObject[], newRS: ReplicaSetObject | undefined,
  now: Date): { status: DeploymentStatus; recheckAfterMs?: number } {
  const status = calculateStatus(d, allRSs, newRS, now);
  if (!hasProgressDeadline(d)) removeDeploymentCondition(status, 'Progressing');
  const current = findCondition(d.status?.conditions, 'Progressing');
  const complete = status.replicas === status.updatedReplicas && current?.reason === reasonNewReplicaSetAvailable;
  const subject = newRS ? `ReplicaSet "${newRS.metadata.name}"` : `Deployment "${d.metadata.name}"`;
  if (hasProgressDeadline(d) && !complete) {
    if (deploymentComplete(d, status)) {
      setDeploymentCondition(status, newCondition('Progressing', 'True', reasonNewReplicaSetAvailable,
        `${subject} has successfully progressed.`, now));
    } else if (deploymentProgressing(d, status)) {
      const cond = newCondition('Progressing', 'True', reasonReplicaSetUpdated, `${subject} is progressing.`, now);
      if (current?.status === 'True' && current.lastTransitionTime) cond.lastTransitionTime = current.lastTransitionTime;
      // Removed first so lastUpdateTime moves even when the reason stays: the deadline restarts.
      removeDeploymentCondition(status, 'Progressing');
      setDeploymentCondition(status, cond);
    } else if (deploymentTimedOut(d, status, now)) {
      setDeploymentCondition(status, newCondition('Progressing', 'False', reasonProgressDeadlineExceeded,
        `${subject} has timed out progressing.`, now));
    }
  }
  return { status, ...recheck(d, status, now) };
}

function recheck(d: DeploymentObject, status: DeploymentStatus, now: Date): { recheckAfterMs?: number } {
  const cond = findCondition(status.conditions, 'Progressing');
  if (!hasProgressDeadline(d) || !cond || deploymentComplete(d, status) || cond.reason === reasonProgressDeadlineExceeded) return {};
  if (cond.reason === reasonDeploymentPaused) return {};
  const from = Date.parse(cond.lastUpdateTime ?? cond.lastTransitionTime ?? '');
  if (!Number.isFinite(from)) return {};
  // Timestamps have whole seconds and the deadline is "strictly after": half a second of slack.
  return { recheckAfterMs: Math.max(500, from + (d.spec.progressDeadlineSeconds ?? 600) * 1000 - now.getTime() + 500) };
}

/**
 * Progressing=Unknown with DeploymentPaused when paused and DeploymentResumed when resumed, unless
 * the deadline already passed. Returns the new status, or undefined when nothing changes.
 */
export function pausedConditionStatus(d: DeploymentObject, now: Date): DeploymentStatus | undefined {
  if (!hasProgressDeadline(d)) return undefined;
  const cond = findCondition(d.status?.conditions, 'Progressing');
  if (cond?.reason === reasonProgressDeadlineExceeded) return undefined;
  const pausedCond = cond?.reason === reasonDeploymentPaused;
  const status = structuredClone(d.status ?? {});
  if (d.spec.paused && !pausedCond) {
    setDeploymentCondition(status, newCondition('Progressing', 'Unknown', reasonDeploymentPaused, 'Deployment is paused', now));
  } else if (!d.spec.paused && pausedCond) {
    setDeploymentCondition(status, newCondition('Progressing', 'Unknown', reasonDeploymentResumed, 'Deployment is resumed', now));
  } else {
    return undefined;
  }
  return status;
}
