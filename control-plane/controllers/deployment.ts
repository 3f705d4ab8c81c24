// The Deployment controller: a Deployment owns ReplicaSets named NAME-HASH after their pod
// template, and a template change rolls pods from the old ReplicaSets to a new one, either
// step by step within maxSurge/maxUnavailable (RollingUpdate) or all at once (Recreate). It
// keeps revision annotations (rollback reuses an old ReplicaSet with a new revision), trims
// history to revisionHistoryLimit, scales proportionally mid-rollout, honours spec.paused and
// reports Available and Progressing (with progressDeadlineSeconds). The arithmetic lives in
// deployment-rollout.ts and deployment-status.ts; this file reads caches and writes.
import type { Logger } from 'pino';
import { isAlreadyExists, isConflict, isNotFound } from '../api/errors.ts';
import { fromLabelSelector, matches } from '../api/labels.ts';
import type { KubeObject } from '../api/meta.ts';
import { deepEqual, findCondition } from '../api/objects.ts';
import { resourceFor } from '../api/resources.ts';
import type { KubeClient } from '../client/client.ts';
import { objectKey } from '../client/informer.ts';
import { WorkQueue } from '../client/workqueue.ts';
import {
  filterActive, findActiveOrLatest, findNewReplicaSet, isRollingUpdate, isSaturated, isScalingEvent, maxRevision,
  maxSurge, newReplicaSet, newReplicaSetReplicas, planOldReplicaSetScaleDown, planProportionalScale, replicaSetsToClean,
  replicasOf, revisionAnnotation, setNewReplicaSetAnnotations, setReplicasAnnotations, sumStatus, type DeploymentObject,
} from './deployment-rollout.ts';
import {
  calculateStatus, deploymentComplete, hasProgressDeadline, newCondition, pausedConditionStatus, reasonFoundNewReplicaSet,
  reasonNewReplicaSetCreated, rolloutStatus, setDeploymentCondition, type DeploymentStatus,
} from './deployment-status.ts';
import {
  claimOwned, controllerOf, controllerRefTo, ownerReferencesPatch, templatesEqualIgnoringHash,
  type InformerLike, type PodObject, type Recorder,
} from './pod-template.ts';
import type { ReplicaSetObject } from './replicaset.ts';
import { runWorkers, type SyncResult } from './runner.ts';

export const reasonScalingReplicaSet = 'ScalingReplicaSet';
export const reasonSelectingAll = 'SelectingAll';

const deployments = resourceFor('apps', 'deployments')!;
const replicasets = resourceFor('apps', 'replicasets')!;

export interface DeploymentControllerOptions {
  client: KubeClient;
  deployments: InformerLike<DeploymentObject>;
  replicaSets: InformerLike<ReplicaSetObject>;
  pods: InformerLike<PodObject>;
  recorder: Recorder;
  logger?: Logger;
  now?: () => Date;
}

/** One Deployment and its ReplicaSets during one sync; `d` is replaced by every write's result. */
interface Rollout {
  d: DeploymentObject;
  newRS: ReplicaSetObject | undefined;
  oldRSs: ReplicaSetObject[];
}

const allOf = (r: Rollout): ReplicaSetObject[] => (r.newRS ? [...r.oldRSs, r.newRS] : r.oldRSs);

export class DeploymentController {
  readonly queue = new WorkQueue();
  private readonly client: KubeClient;
  private readonly deployments: InformerLike<DeploymentObject>;
  private readonly replicaSets: InformerLike<ReplicaSetObject>;
  private readonly pods: InformerLike<PodObject>;
  private readonly recorder: Recorder;
  private readonly logger?: Logger;
  private readonly now: () => Date;

  constructor(options: DeploymentControllerOptions) {
    this.client = options.client;
    this.deployments = options.deployments;
    this.replicaSets = options.replicaSets;
    this.pods = options.pods;
    this.recorder = options.recorder;
    if (options.logger) this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    const enqueue = (d: DeploymentObject) => this.queue.add(objectKey(d));
    this.deployments.on({ add: enqueue, update: (_old, d) => enqueue(d), delete: enqueue });
    this.replicaSets.on({
      add: (rs) => this.replicaSetChanged(undefined, rs),
      update: (old, rs) => this.replicaSetChanged(old, rs),
      delete: (rs) => { const d = this.ownerOf(rs); if (d) enqueue(d); },
    });
    // Recreate waits until every old pod is gone, which only a pod's deletion shows.
    this.pods.on({ delete: (pod) => this.podDeleted(pod) });
  }

  async run(workers = 2): Promise<void> {
    await Promise.all([this.deployments.waitForSync(), this.replicaSets.waitForSync(), this.pods.waitForSync()]);
    await runWorkers(this.queue, workers, (key) => this.sync(key), this.logger);
  }

  stop(): void { this.queue.shutDown(); }

  async sync(key: string): Promise<SyncResult> {
    const cached = this.deployments.get(key);
    if (!cached) return {};
    let d = structuredClone(cached);
    if (fromLabelSelector(d.spec.selector).length === 0) {
      this.recorder.record(d, 'Warning', reasonSelectingAll, 'This deployment is selecting all pods. A non-empty selector is required.');
      return {};
    }
    const rsList = await this.claimReplicaSets(d);
    if (d.metadata.deletionTimestamp) {
      const r = this.replicaSetsOf(d, rsList);
      await this.writeStatus(r, calculateStatus(r.d, allOf(r), r.newRS, this.now()));
      return {};
    }
    const paused = pausedConditionStatus(d, this.now());
    if (paused) d = await this.writeStatus({ d, newRS: undefined, oldRSs: [] }, paused);
    if (d.spec.paused || isScalingEvent(d, filterActive(rsList))) return this.syncScale(d, rsList);
    return isRollingUpdate(d) ? this.rolloutRolling(d, rsList) : this.rolloutRecreate(d, rsList);
  }

  /** Scaling only (and history cleanup while paused): no new ReplicaSet, no rollout step. */
  private async syncScale(d: DeploymentObject, rsList: ReplicaSetObject[]): Promise<SyncResult> {
    const r = await this.getReplicaSetsAndSyncRevision(d, rsList, false);
    await this.scale(r);
    if (r.d.spec.paused) await this.cleanup(r);
    await this.writeStatus(r, calculateStatus(r.d, allOf(r), r.newRS, this.now()));
    return {};
  }

  private async rolloutRolling(d: DeploymentObject, rsList: ReplicaSetObject[]): Promise<SyncResult> {
    const r = await this.getReplicaSetsAndSyncRevision(d, rsList, true);
    if (await this.reconcileNewReplicaSet(r)) return this.syncRolloutStatus(r);
    const plan = planOldReplicaSetScaleDown(r.d, r.oldRSs, r.newRS);
    let scaled = false;
    for (const rs of [...r.oldRSs]) {
      const size = plan.get(rs.metadata.name!);
      if (size !== undefined && size !== replicasOf(rs)) { await this.scaleReplicaSet(r, rs, size); scaled = true; }
    }
    if (scaled) return this.syncRolloutStatus(r);
    if (deploymentComplete(r.d, calculateStatus(r.d, allOf(r), r.newRS, this.now()))) await this.cleanup(r);
    return this.syncRolloutStatus(r);
  }

  private async rolloutRecreate(d: DeploymentObject, rsList: ReplicaSetObject[]): Promise<SyncResult> {
    let r = await this.getReplicaSetsAndSyncRevision(d, rsList, false);
    let scaledDown = false;
    for (const rs of filterActive(r.oldRSs)) { await this.scaleReplicaSet(r, rs, 0); scaledDown = true; }
    if (scaledDown || this.oldPodsRunning(r)) return this.syncRolloutStatus(r);
    if (!r.newRS) r = await this.getReplicaSetsAndSyncRevision(r.d, rsList, true);
    if (r.newRS && replicasOf(r.newRS) !== replicasOf(r.d)) await this.scaleReplicaSet(r, r.newRS, replicasOf(r.d));
    if (deploymentComplete(r.d, calculateStatus(r.d, allOf(r), r.newRS, this.now()))) await this.cleanup(r);
    return this.syncRolloutStatus(r);
  }

  /** Grows the new ReplicaSet as far as maxSurge allows (or shrinks it to the Deployment's size). */
  private async reconcileNewReplicaSet(r: Rollout): Promise<boolean> {
    const rs = r.newRS;
    if (!rs) return false;
    const want = replicasOf(r.d);
    if (replicasOf(rs) === want) return false;
    const size = replicasOf(rs) > want ? want : newReplicaSetReplicas(r.d, allOf(r), rs);
    if (size === replicasOf(rs)) return false;
    await this.scaleReplicaSet(r, rs, size);
    return true;
  }

  /** Kubernetes' `scale`: resize whichever ReplicaSets are active, proportionally when several are. */
  private async scale(r: Rollout): Promise<void> {
    const only = findActiveOrLatest(r.newRS, r.oldRSs);
    if (only) {
      if (replicasOf(only) !== replicasOf(r.d)) await this.scaleReplicaSet(r, only, replicasOf(r.d));
      return;
    }
    if (isSaturated(r.d, r.newRS)) {
      for (const rs of filterActive(r.oldRSs)) await this.scaleReplicaSet(r, rs, 0);
      return;
    }
    if (!isRollingUpdate(r.d)) return;
    const plan = planProportionalScale(r.d, filterActive(allOf(r)));
    for (const rs of filterActive(allOf(r))) await this.scaleReplicaSet(r, rs, plan.get(rs.metadata.name!) ?? replicasOf(rs));
  }

  /** Writes a ReplicaSet's size and replica annotations, records ScalingReplicaSet, and updates `r`. */
  private async scaleReplicaSet(r: Rollout, rs: ReplicaSetObject, size: number): Promise<void> {
    const next = structuredClone(rs);
    const annotationsChanged = setReplicasAnnotations(next, replicasOf(r.d), replicasOf(r.d) + maxSurge(r.d));
    const resized = replicasOf(rs) !== size;
    if (!resized && !annotationsChanged) return;
    next.spec.replicas = size;
    const updated = await this.client.update<ReplicaSetObject>(replicasets, next);
    if (resized) {
      this.recorder.record(r.d, 'Normal', reasonScalingReplicaSet,
        `Scaled ${size > replicasOf(rs) ? 'up' : 'down'} replica set ${rs.metadata.name} to ${size}`);
    }
    if (r.newRS?.metadata.uid === rs.metadata.uid) r.newRS = updated;
    r.oldRSs = r.oldRSs.map((o) => (o.metadata.uid === rs.metadata.uid ? updated : o));
  }

  /**
   * Splits the ReplicaSets into the new one (created when `create` and missing) and the old ones,
   * raising the new one's revision above every old one and copying it to the Deployment.
   */
  private async getReplicaSetsAndSyncRevision(d: DeploymentObject, rsList: ReplicaSetObject[], create: boolean): Promise<Rollout> {
    const existing = findNewReplicaSet(d, rsList);
    const oldRSs = rsList.filter((rs) => rs !== existing);
    const r: Rollout = { d, newRS: existing, oldRSs };
    const revision = maxRevision(oldRSs) + 1;
    if (existing) {
      const next = structuredClone(existing);
      const annotationsChanged = setNewReplicaSetAnnotations(d, next, revision, true);
      if (annotationsChanged || (next.spec.minReadySeconds ?? 0) !== (d.spec.minReadySeconds ?? 0)) {
        next.spec.minReadySeconds = d.spec.minReadySeconds ?? 0;
        r.newRS = await this.client.update<ReplicaSetObject>(replicasets, next);
        return r; // the revision reaches the Deployment on the next sync, which this write triggers
      }
      const status = structuredClone(d.status ?? {});
      if (hasProgressDeadline(d) && !findCondition(status.conditions, 'Progressing')) {
        setDeploymentCondition(status, newCondition('Progressing', 'True', reasonFoundNewReplicaSet,
          `Found new replica set "${existing.metadata.name}"`, this.now()));
      }
      await this.writeRevision(r, existing.metadata.annotations?.[revisionAnnotation]);
      await this.writeStatus(r, status);
      return r;
    }
    if (!create) return r;
    r.newRS = await this.createNewReplicaSet(r, revision);
    return r;
  }

  private async createNewReplicaSet(r: Rollout, revision: number): Promise<ReplicaSetObject> {
    const { d } = r;
    const rs = newReplicaSet(d, newReplicaSetReplicas(d, r.oldRSs, undefined), revision);
    let created: ReplicaSetObject;
    try {
      created = await this.client.create<ReplicaSetObject>(replicasets, d.metadata.namespace, rs);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // Ours already (our cache has not seen it yet), or a hash collision: then try the next name.
      const found = await this.client.get<ReplicaSetObject>(replicasets, d.metadata.namespace, rs.metadata.name!);
      if (controllerOf(found)?.uid === d.metadata.uid && templatesEqualIgnoringHash(found.spec.template, d.spec.template)) {
        return found;
      }
      const status = { ...structuredClone(d.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 };
      await this.writeStatus(r, status);
      throw new Error(`hash collision for ReplicaSet ${rs.metadata.name}; retrying with collisionCount ${status.collisionCount}`);
    }
    if (replicasOf(created) > 0) {
      this.recorder.record(d, 'Normal', reasonScalingReplicaSet, `Scaled up replica set ${created.metadata.name} to ${replicasOf(created)}`);
    }
    await this.writeRevision(r, String(revision));
    const status = structuredClone(r.d.status ?? {});
    if (hasProgressDeadline(d)) {
      setDeploymentCondition(status, newCondition('Progressing', 'True', reasonNewReplicaSetCreated,
        `Created new replica set "${created.metadata.name}"`, this.now()));
    }
    await this.writeStatus(r, status);
    return created;
  }

  private async syncRolloutStatus(r: Rollout): Promise<SyncResult> {
    const { status, recheckAfterMs } = rolloutStatus(r.d, allOf(r), r.newRS, this.now());
    await this.writeStatus(r, status);
    return recheckAfterMs !== undefined ? { requeueAfterMs: recheckAfterMs } : {};
  }

  /** Deletes old ReplicaSets beyond revisionHistoryLimit (their pods go with them through the GC). */
  private async cleanup(r: Rollout): Promise<void> {
    for (const rs of replicaSetsToClean(r.d, r.oldRSs)) {
      try {
        await this.client.delete(replicasets, rs.metadata.namespace, rs.metadata.name!, { propagationPolicy: 'Background', preconditions: { uid: rs.metadata.uid! } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  /** Whether any pod of an old ReplicaSet may still run (Recreate must not overlap versions). */
  private oldPodsRunning(r: Rollout): boolean {
    if (sumStatus(r.oldRSs, 'replicas') > 0) return true;
    const oldUids = new Set(r.oldRSs.map((rs) => rs.metadata.uid));
    return this.pods.list().some((pod) => pod.metadata.namespace === r.d.metadata.namespace &&
      oldUids.has(controllerOf(pod)?.uid) && pod.status?.phase !== 'Failed' && pod.status?.phase !== 'Succeeded');
  }

  private async writeRevision(r: Rollout, revision: string | undefined): Promise<void> {
    if (revision === undefined || r.d.metadata.annotations?.[revisionAnnotation] === revision) return;
    const next = structuredClone(r.d);
    next.metadata.annotations = { ...next.metadata.annotations, [revisionAnnotation]: revision };
    r.d = await this.client.update<DeploymentObject>(deployments, next);
  }

  private async writeStatus(r: Rollout, status: DeploymentStatus): Promise<DeploymentObject> {
    if (deepEqual(r.d.status ?? {}, status)) return r.d;
    try {
      r.d = await this.client.update<DeploymentObject>(deployments, { ...r.d, status }, 'status');
    } catch (err) {
      if (!isConflict(err)) throw err;
      // Often our own earlier write in this sync, not yet in the cache. Same generation: the
      // status still describes the spec, so write it over the fresh copy once.
      const fresh = await this.client.get<DeploymentObject>(deployments, r.d.metadata.namespace, r.d.metadata.name!);
      if (fresh.metadata.generation !== r.d.metadata.generation) throw err;
      r.d = await this.client.update<DeploymentObject>(deployments, { ...fresh, status }, 'status');
    }
    return r.d;
  }

  private replicaSetsOf(d: DeploymentObject, rsList: ReplicaSetObject[]): Rollout {
    const newRS = findNewReplicaSet(d, rsList);
    return { d, newRS, oldRSs: rsList.filter((rs) => rs !== newRS) };
  }

  /** The ReplicaSets this Deployment controls, after adopting matching orphans and releasing strays. */
  private async claimReplicaSets(d: DeploymentObject): Promise<ReplicaSetObject[]> {
    const ns = d.metadata.namespace;
    const setRefs = async (rs: ReplicaSetObject, refs: NonNullable<KubeObject['metadata']['ownerReferences']>) => {
      await this.client.patch(replicasets, ns, rs.metadata.name!, ownerReferencesPatch(rs, refs));
    };
    return claimOwned({
      owner: d, selector: fromLabelSelector(d.spec.selector),
      candidates: this.replicaSets.list().filter((rs) => rs.metadata.namespace === ns),
      adopt: (rs) => setRefs(rs, [...(rs.metadata.ownerReferences ?? []), controllerRefTo(d)]),
      release: (rs) => setRefs(rs, (rs.metadata.ownerReferences ?? []).filter((o) => o.uid !== d.metadata.uid)),
      canAdopt: async () => {
        try {
          const fresh = await this.client.get(deployments, ns, d.metadata.name!);
          return fresh.metadata.uid === d.metadata.uid && !fresh.metadata.deletionTimestamp;
        } catch (err) {
          if (isNotFound(err)) return false;
          throw err;
        }
      },
    });
  }

  // ---- event handlers ----

  private ownerOf(rs: ReplicaSetObject): DeploymentObject | undefined {
    const ref = controllerOf(rs);
    if (ref?.kind !== 'Deployment') return undefined;
    const d = this.deployments.get(`${rs.metadata.namespace}/${ref.name}`);
    return d?.metadata.uid === ref.uid ? d : undefined;
  }

  private replicaSetChanged(old: ReplicaSetObject | undefined, rs: ReplicaSetObject): void {
    if (old && old.metadata.resourceVersion === rs.metadata.resourceVersion) return;
    if (old && !deepEqual(controllerOf(old), controllerOf(rs))) {
      const previous = this.ownerOf(old);
      if (previous) this.queue.add(objectKey(previous));
    }
    const owner = this.ownerOf(rs);
    if (owner) { this.queue.add(objectKey(owner)); return; }
    if (controllerOf(rs)) return;
    // An orphan: any Deployment that selects it may adopt it.
    for (const d of this.deployments.list()) {
      const selector = fromLabelSelector(d.spec.selector);
      if (d.metadata.namespace === rs.metadata.namespace && selector.length > 0 && matches(selector, rs.metadata.labels)) {
        this.queue.add(objectKey(d));
      }
    }
  }

  private podDeleted(pod: PodObject): void {
    const ref = controllerOf(pod);
    if (ref?.kind !== 'ReplicaSet') return;
    const rs = this.replicaSets.get(`${pod.metadata.namespace}/${ref.name}`);
    const d = rs && this.ownerOf(rs);
    if (d && !isRollingUpdate(d)) this.queue.add(objectKey(d));
  }
}
