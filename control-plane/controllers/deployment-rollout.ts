// The arithmetic of a Deployment rollout, as pure functions over a Deployment and its
// ReplicaSets (Kubernetes' pkg/controller/deployment/util): maxSurge and maxUnavailable, which
// ReplicaSet is new, how far each may be scaled, revisions and the annotations that carry them,
// and the new ReplicaSet itself. The controller only applies the plans these return.
import type { Deployment } from '../api/apps.ts';
import type { KubeObject } from '../api/meta.ts';
import {
  computeHash, controllerRefTo, podTemplateHashLabel, templatesEqualIgnoringHash,
} from './pod-template.ts';
import type { ReplicaSetObject } from './replicaset.ts';

export type DeploymentObject = Deployment & KubeObject;

export const revisionAnnotation = 'deployment.kubernetes.io/revision';
export const revisionHistoryAnnotation = 'deployment.kubernetes.io/revision-history';
export const desiredReplicasAnnotation = 'deployment.kubernetes.io/desired-replicas';
export const maxReplicasAnnotation = 'deployment.kubernetes.io/max-replicas';

// Annotations a Deployment does not hand down to its ReplicaSets (they describe the Deployment).
const annotationsNotCopied = new Set([
  'kubectl.kubernetes.io/last-applied-configuration', revisionAnnotation, revisionHistoryAnnotation,
  desiredReplicasAnnotation, maxReplicasAnnotation, 'deprecated.deployment.rollback.to',
]);
// Kubernetes' default for both maxSurge and maxUnavailable.
const defaultFencepost = '25%';

export const replicasOf = (obj: { spec: { replicas?: number } }): number => obj.spec.replicas ?? 1;
export const isRollingUpdate = (d: DeploymentObject): boolean => (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';

/** An int-or-percent of `total`: percentages round up for surge and down for unavailability. */
export function scaledValue(value: number | string, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(value);
  if (!m) {
    if (/^\d+$/.test(value)) return Number(value);
    throw new Error(`invalid value for IntOrString: invalid value "${value}": must be an integer or a percentage`);
  }
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** maxSurge and maxUnavailable as pod counts; both 0 would block the rollout, so unavailable becomes 1. */
export function resolveFenceposts(d: DeploymentObject): { maxSurge: number; maxUnavailable: number } {
  const replicas = replicasOf(d);
  const rolling = d.spec.strategy?.rollingUpdate;
  const maxSurge = scaledValue(rolling?.maxSurge ?? defaultFencepost, replicas, true);
  const maxUnavailable = scaledValue(rolling?.maxUnavailable ?? defaultFencepost, replicas, false);
  return maxSurge === 0 && maxUnavailable === 0 ? { maxSurge, maxUnavailable: 1 } : { maxSurge, maxUnavailable };
}

export function maxSurge(d: DeploymentObject): number {
  return isRollingUpdate(d) ? resolveFenceposts(d).maxSurge : 0;
}

export function maxUnavailable(d: DeploymentObject): number {
  const replicas = replicasOf(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  return Math.min(resolveFenceposts(d).maxUnavailable, replicas);
}

export function revisionOf(obj: KubeObject): number {
  const n = Number(obj.metadata.annotations?.[revisionAnnotation] ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

export const maxRevision = (rss: ReplicaSetObject[]): number => rss.reduce((max, rs) => Math.max(max, revisionOf(rs)), 0);

const created = (o: KubeObject) => Date.parse(o.metadata.creationTimestamp ?? '') || 0;

/** Oldest first; the name breaks ties, as Kubernetes' ReplicaSetsByCreationTimestamp. */
export function byCreation(a: KubeObject, b: KubeObject): number {
  return created(a) - created(b) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/** Lowest revision first (the ones revisionHistoryLimit removes first). */
export function byRevision(a: ReplicaSetObject, b: ReplicaSetObject): number {
  return revisionOf(a) - revisionOf(b) || byCreation(a, b);
}

/** The oldest ReplicaSet whose template equals the Deployment's: the one the rollout is heading to. */
export function findNewReplicaSet(d: DeploymentObject, rss: ReplicaSetObject[]): ReplicaSetObject | undefined {
  return [...rss].sort(byCreation).find((rs) => templatesEqualIgnoringHash(rs.spec.template, d.spec.template));
}

export const filterActive = (rss: ReplicaSetObject[]): ReplicaSetObject[] => rss.filter((rs) => replicasOf(rs) > 0);
export const sumReplicas = (rss: ReplicaSetObject[]): number => rss.reduce((n, rs) => n + replicasOf(rs), 0);
export const sumStatus = (rss: ReplicaSetObject[], field: 'replicas' | 'readyReplicas' | 'availableReplicas'): number =>
  rss.reduce((n, rs) => n + (rs.status?.[field] ?? 0), 0);

/** How many replicas the new ReplicaSet may have now: up to replicas + maxSurge pods in all. */
export function newReplicaSetReplicas(d: DeploymentObject, allRSs: ReplicaSetObject[], newRS: ReplicaSetObject | undefined): number {
  const replicas = replicasOf(d);
  if (!isRollingUpdate(d)) return replicas;
  const current = newRS ? replicasOf(newRS) : 0;
  const maxTotal = replicas + resolveFenceposts(d).maxSurge;
  const total = sumReplicas(allRSs);
  if (total >= maxTotal) return current;
  return current + Math.max(0, Math.min(maxTotal - total, replicas - current));
}

/**
 * How far the old ReplicaSets go down in one step of a rolling update, oldest first: first the
 * replicas that are not available anyway, then available ones, never taking the number of
 * available pods below replicas - maxUnavailable. Returns the new sizes of those that change.
 */
export function planOldReplicaSetScaleDown(d: DeploymentObject, oldRSs: ReplicaSetObject[],
  newRS: ReplicaSetObject | undefined): Map<string, number> {
  const plan = new Map<string, number>();
  const active = filterActive(oldRSs);
  if (sumReplicas(active) === 0) return plan;
  const all = newRS ? [...oldRSs, newRS] : oldRSs;
  const minAvailable = replicasOf(d) - maxUnavailable(d);
  const newUnavailable = newRS ? replicasOf(newRS) - (newRS.status?.availableReplicas ?? 0) : 0;
  const maxScaledDown = sumReplicas(all) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return plan;
  const sorted = [...active].sort(byCreation);
  const size = (rs: ReplicaSetObject) => plan.get(rs.metadata.name!) ?? replicasOf(rs);

  // Unhealthy replicas first: removing them costs no availability.
  let cleaned = 0;
  for (const rs of sorted) {
    if (cleaned >= maxScaledDown) break;
    const unavailable = size(rs) - (rs.status?.availableReplicas ?? 0);
    if (size(rs) === 0 || unavailable <= 0) continue;
    const down = Math.min(maxScaledDown - cleaned, unavailable);
    plan.set(rs.metadata.name!, size(rs) - down);
    cleaned += down;
  }

  // Only active ReplicaSets: one just scaled to 0 may still report pods that are going away.
  const available = sumStatus(newRS ? [...active, newRS] : active, 'availableReplicas');
  if (available <= minAvailable) return plan;
  const canRemove = available - minAvailable;
  let removed = 0;
  for (const rs of sorted) {
    if (removed >= canRemove) break;
    if (size(rs) === 0) continue;
    const down = Math.min(size(rs), canRemove - removed);
    plan.set(rs.metadata.name!, size(rs) - down);
    removed += down;
  }
  return plan;
}

/** Larger first; on a tie newer first when adding replicas, older first when removing them. */
function bySize(adding: boolean) {
  return (a: ReplicaSetObject, b: ReplicaSetObject) =>
    replicasOf(b) - replicasOf(a) || (adding ? byCreation(b, a) : byCreation(a, b));
}

/** Kubernetes rounds half away from zero (integer.RoundToInt32). */
const roundHalfAway = (x: number) => (x < 0 ? -Math.round(-x) : Math.round(x));

function maxReplicasAnnotationOf(rs: ReplicaSetObject): number | undefined {
  const v = rs.metadata.annotations?.[maxReplicasAnnotation];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

export function desiredReplicasAnnotationOf(rs: ReplicaSetObject): number | undefined {
  const v = rs.metadata.annotations?.[desiredReplicasAnnotation];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * Proportional scaling: when a Deployment is resized in the middle of a rollout, every active
 * ReplicaSet grows or shrinks in proportion to its share of the `max-replicas` it was sized for;
 * the rounding leftover goes to the largest. Returns every active ReplicaSet's new size.
 */
export function planProportionalScale(d: DeploymentObject, activeRSs: ReplicaSetObject[]): Map<string, number> {
  const replicas = replicasOf(d);
  const surge = maxSurge(d);
  const allowed = replicas > 0 ? replicas + surge : 0;
  const toAdd = allowed - sumReplicas(activeRSs);
  const sorted = [...activeRSs].sort(bySize(toAdd > 0));
  const plan = new Map<string, number>();
  let added = 0;
  for (const rs of sorted) {
    let proportion = 0;
    if (toAdd !== 0 && replicasOf(rs) > 0 && added !== toAdd) {
      let fraction: number;
      if (replicas === 0) fraction = -replicasOf(rs);
      else {
        const annotated = maxReplicasAnnotationOf(rs) ?? d.status?.replicas ?? 0;
        fraction = annotated > 0 ? roundHalfAway((replicasOf(rs) * allowed) / annotated) - replicasOf(rs) : 0;
      }
      const left = toAdd - added;
      proportion = toAdd > 0 ? Math.min(fraction, left) : Math.max(fraction, left);
    }
    plan.set(rs.metadata.name!, replicasOf(rs) + proportion);
    added += proportion;
  }
  if (toAdd !== 0 && sorted.length > 0) {
    const first = sorted[0]!.metadata.name!;
    plan.set(first, Math.max(0, plan.get(first)! + toAdd - added));
  }
  return plan;
}

/** Whether a ReplicaSet was sized for a different replica count than the Deployment now has. */
export function isScalingEvent(d: DeploymentObject, activeRSs: ReplicaSetObject[]): boolean {
  return activeRSs.some((rs) => {
    const desired = desiredReplicasAnnotationOf(rs);
    return desired !== undefined && desired !== replicasOf(d);
  });
}

/** The new ReplicaSet has everything: annotation, spec and available pods all at the Deployment's size. */
export function isSaturated(d: DeploymentObject, rs: ReplicaSetObject | undefined): boolean {
  if (!rs) return false;
  const replicas = replicasOf(d);
  return desiredReplicasAnnotationOf(rs) === replicas && replicasOf(rs) === replicas && (rs.status?.availableReplicas ?? 0) === replicas;
}

/** The only active ReplicaSet, or the newest when none is active; undefined when several are. */
export function findActiveOrLatest(newRS: ReplicaSetObject | undefined, oldRSs: ReplicaSetObject[]): ReplicaSetObject | undefined {
  if (!newRS && oldRSs.length === 0) return undefined;
  const newestFirst = [...oldRSs].sort((a, b) => byCreation(b, a));
  const active = filterActive(newRS ? [...newestFirst, newRS] : newestFirst);
  if (active.length === 1) return active[0];
  if (active.length === 0) return newRS ?? newestFirst[0];
  return undefined;
}

/** Sets desired-replicas and max-replicas; returns whether anything changed. */
export function setReplicasAnnotations(rs: ReplicaSetObject, desired: number, max: number): boolean {
  const annotations = rs.metadata.annotations ?? {};
  const changed = annotations[desiredReplicasAnnotation] !== String(desired) || annotations[maxReplicasAnnotation] !== String(max);
  rs.metadata.annotations = { ...annotations, [desiredReplicasAnnotation]: String(desired), [maxReplicasAnnotation]: String(max) };
  return changed;
}

/**
 * Copies the Deployment's annotations and raises the revision of the ReplicaSet the rollout is
 * heading to. A ReplicaSet that had an older revision is a rollback target: its old revisions
 * are kept in revision-history. Modifies `rs` (a copy); returns whether anything changed.
 */
export function setNewReplicaSetAnnotations(d: DeploymentObject, rs: ReplicaSetObject, newRevision: number, exists: boolean): boolean {
  const annotations = { ...rs.metadata.annotations };
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (annotationsNotCopied.has(k) || annotations[k] === v) continue;
    annotations[k] = v;
    changed = true;
  }
  const old = annotations[revisionAnnotation];
  const oldRevision = Number(old ?? 0) || 0;
  if (oldRevision < newRevision) {
    annotations[revisionAnnotation] = String(newRevision);
    changed = true;
    if (old !== undefined) {
      const history = annotations[revisionHistoryAnnotation];
      annotations[revisionHistoryAnnotation] = history ? `${history},${old}` : old;
    }
  }
  rs.metadata.annotations = annotations;
  if (!exists && setReplicasAnnotations(rs, replicasOf(d), replicasOf(d) + maxSurge(d))) changed = true;
  return changed;
}

/** The ReplicaSet for the Deployment's current template: `NAME-HASH`, selecting only its own pods. */
export function newReplicaSet(d: DeploymentObject, replicas: number, revision: number): ReplicaSetObject {
  const hash = computeHash(d.spec.template, d.status?.collisionCount);
  const template = structuredClone(d.spec.template);
  template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [podTemplateHashLabel]: hash } };
  const selector = structuredClone(d.spec.selector);
  selector.matchLabels = { ...selector.matchLabels, [podTemplateHashLabel]: hash };
  const rs: ReplicaSetObject = {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata.name}-${hash}`, namespace: d.metadata.namespace!,
      labels: { ...template.metadata.labels }, ownerReferences: [controllerRefTo(d)],
    },
    spec: { replicas, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
  };
  setNewReplicaSetAnnotations(d, rs, revision, false);
  return rs;
}

/**
 * The old ReplicaSets revisionHistoryLimit lets go: lowest revisions first, and only those that
 * are fully scaled down and whose status has caught up with their spec.
 */
export function replicaSetsToClean(d: DeploymentObject, oldRSs: ReplicaSetObject[]): ReplicaSetObject[] {
  const limit = d.spec.revisionHistoryLimit ?? 10;
  const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp).sort(byRevision);
  const excess = cleanable.length - limit;
  if (excess <= 0) return [];
  return cleanable.slice(0, excess).filter((rs) => replicasOf(rs) === 0 && (rs.status?.replicas ?? 0) === 0 &&
    (rs.metadata.generation ?? 1) <= (rs.status?.observedGeneration ?? 0));
}
