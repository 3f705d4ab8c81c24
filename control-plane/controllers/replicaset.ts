// The ReplicaSet controller: keeps exactly `spec.replicas` active pods matching a ReplicaSet's
// selector. It adopts matching orphans, releases pods that stopped matching, replaces pods that
// failed, and when scaling down removes the pods that matter least (unscheduled, then not
// ready, then newest). Like Kubernetes it tracks "expectations": after creating or deleting
// pods it does not act on that ReplicaSet again until the informer has shown it every one of
// those writes, so a cache lagging behind its own writes can never make it overshoot.
import type { Logger } from 'pino';
import type { ReplicaSet } from '../api/apps.ts';
import { isConflict, isNotFound } from '../api/errors.ts';
import { fromLabelSelector, matches } from '../api/labels.ts';
import type { Condition, KubeObject } from '../api/meta.ts';
import { deepEqual, findCondition, timestamp } from '../api/objects.ts';
import { resourceFor } from '../api/resources.ts';
import type { KubeClient } from '../client/client.ts';
import { objectKey } from '../client/informer.ts';
import { WorkQueue } from '../client/workqueue.ts';
import {
  claimOwned, controllerOf, controllerRefTo, isPodActive, isPodAvailable, isPodReady, ownerReferencesPatch,
  type InformerLike, type PodObject, type Recorder,
} from './pod-template.ts';
import { runWorkers, type SyncResult } from './runner.ts';

export const reasonSuccessfulCreate = 'SuccessfulCreate';
export const reasonFailedCreate = 'FailedCreate';
export const reasonSuccessfulDelete = 'SuccessfulDelete';
export const reasonFailedDelete = 'FailedDelete';

export type ReplicaSetObject = ReplicaSet & KubeObject;

const replicasets = resourceFor('apps', 'replicasets')!;
const pods = resourceFor('', 'pods')!;

// Kubernetes' burstReplicas: at most this many pod creations or deletions per sync.
const burstReplicas = 500;
// Kubernetes' ExpectationsTimeout: a watch event that never came must not stall a ReplicaSet forever.
const expectationsTimeoutMs = 5 * 60_000;
// Creations start one at a time and double, so a failing template costs one request, not 500.
const slowStartInitialBatch = 1;

/**
 * Kubernetes' UIDTrackingControllerExpectations: per ReplicaSet, how many pod creations and
 * which pod deletions it has made but not yet seen through its informer.
 */
export class Expectations {
  private readonly items = new Map<string, { adds: number; deletes: Set<string>; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  satisfied(key: string): boolean {
    const e = this.items.get(key);
    if (!e) return true;
    return (e.adds <= 0 && e.deletes.size === 0) || this.now() - e.at > expectationsTimeoutMs;
  }

  expectCreations(key: string, count: number): void {
    this.items.set(key, { adds: count, deletes: new Set(), at: this.now() });
  }

  expectDeletions(key: string, podKeys: string[]): void {
    this.items.set(key, { adds: 0, deletes: new Set(podKeys), at: this.now() });
  }

  creationObserved(key: string): void {
    const e = this.items.get(key);
    if (e) e.adds--;
  }

  deletionObserved(key: string, podKey: string): void {
    this.items.get(key)?.deletes.delete(podKey);
  }

  forget(key: string): void { this.items.delete(key); }
}

export interface ReplicaSetControllerOptions {
  client: KubeClient;
  replicaSets: InformerLike<ReplicaSetObject>;
  pods: InformerLike<PodObject>;
  recorder: Recorder;
  logger?: Logger;
  now?: () => Date;
}

export class ReplicaSetController {
  readonly queue = new WorkQueue();
  readonly expectations: Expectations;
  private readonly client: KubeClient;
  private readonly replicaSets: InformerLike<ReplicaSetObject>;
  private readonly pods: InformerLike<PodObject>;
  private readonly recorder: Recorder;
  private readonly logger?: Logger;
  private readonly now: () => Date;

  constructor(options: ReplicaSetControllerOptions) {
    this.client = options.client;
    this.replicaSets = options.replicaSets;
    this.pods = options.pods;
    this.recorder = options.recorder;
    if (options.logger) this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    this.expectations = new Expectations(() => this.now().getTime());
    this.replicaSets.on({
      add: (rs) => this.queue.add(objectKey(rs)),
      update: (_old, rs) => this.queue.add(objectKey(rs)),
      delete: (rs) => { this.expectations.forget(objectKey(rs)); this.queue.add(objectKey(rs)); },
    });
    this.pods.on({
      add: (pod) => this.podAdded(pod),
      update: (old, pod) => this.podUpdated(old, pod),
      delete: (pod) => this.podDeleted(pod),
    });
  }

  async run(workers = 2): Promise<void> {
    await Promise.all([this.replicaSets.waitForSync(), this.pods.waitForSync()]);
    await runWorkers(this.queue, workers, (key) => this.sync(key), this.logger);
  }

  stop(): void { this.queue.shutDown(); }

  /** Brings one ReplicaSet's pods to its spec and writes its status. */
  async sync(key: string): Promise<SyncResult> {
    const rs = this.replicaSets.get(key);
    if (!rs) { this.expectations.forget(key); return {}; }
    const needsSync = this.expectations.satisfied(key);
    const selector = fromLabelSelector(rs.spec.selector);
    const namespace = rs.metadata.namespace!;
    const candidates = this.pods.list().filter((p) => p.metadata.namespace === namespace && isPodActive(p));
    const owned = await claimOwned({
      owner: rs, selector, candidates,
      adopt: (pod) => this.setOwnerReferences(pod, [...(pod.metadata.ownerReferences ?? []), controllerRefTo(rs)]),
      release: (pod) => this.setOwnerReferences(pod, (pod.metadata.ownerReferences ?? []).filter((r) => r.uid !== rs.metadata.uid)),
      canAdopt: () => this.isLive(rs),
    });
    let manageError: Error | undefined;
    if (needsSync && !rs.metadata.deletionTimestamp) {
      manageError = await this.manageReplicas(key, rs, owned).then(() => undefined, (err: unknown) => err as Error);
    }
    const status = calculateReplicaSetStatus(rs, owned, manageError, this.now());
    const updated = await this.writeStatus(rs, status);
    if (manageError) throw manageError;
    const spec = updated.spec.replicas ?? 1;
    const minReady = updated.spec.minReadySeconds ?? 0;
    // Pods that are ready but not yet available become available by time alone: look again then.
    if (minReady > 0 && status.readyReplicas === spec && status.availableReplicas !== spec) {
      return { requeueAfterMs: minReady * 1000 };
    }
    return {};
  }

  private async manageReplicas(key: string, rs: ReplicaSetObject, owned: PodObject[]): Promise<void> {
    const diff = owned.length - (rs.spec.replicas ?? 1);
    if (diff < 0) {
      const count = Math.min(-diff, burstReplicas);
      this.expectations.expectCreations(key, count);
      const { succeeded, error } = await slowStartBatch(count, slowStartInitialBatch, () => this.createPod(rs));
      // Creations that never happened will never be observed: stop waiting for them.
      for (let i = succeeded; i < count; i++) this.expectations.creationObserved(key);
      if (error) throw error;
    } else if (diff > 0) {
      const victims = podsToDelete(owned, Math.min(diff, burstReplicas));
      this.expectations.expectDeletions(key, victims.map(objectKey));
      const results = await Promise.allSettled(victims.map((pod) => this.deletePod(key, rs, pod)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  private async createPod(rs: ReplicaSetObject): Promise<void> {
    try {
      const pod = await this.client.create(pods, rs.metadata.namespace, newPod(rs));
      this.recorder.record(rs, 'Normal', reasonSuccessfulCreate, `Created pod: ${pod.metadata.name}`);
    } catch (err) {
      this.recorder.record(rs, 'Warning', reasonFailedCreate, `Error creating: ${(err as Error).message}`);
      throw err;
    }
  }

  private async deletePod(key: string, rs: ReplicaSetObject, pod: PodObject): Promise<void> {
    try {
      await this.client.delete(pods, pod.metadata.namespace, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid! } });
      this.recorder.record(rs, 'Normal', reasonSuccessfulDelete, `Deleted pod: ${pod.metadata.name}`);
    } catch (err) {
      if (isNotFound(err)) return; // already gone: its delete event lowers the expectation
      this.expectations.deletionObserved(key, objectKey(pod));
      this.recorder.record(rs, 'Warning', reasonFailedDelete, `Error deleting: ${(err as Error).message}`);
      throw err;
    }
  }

  private async setOwnerReferences(pod: PodObject, refs: NonNullable<KubeObject['metadata']['ownerReferences']>): Promise<void> {
    await this.client.patch(pods, pod.metadata.namespace, pod.metadata.name!, ownerReferencesPatch(pod, refs));
  }

  /** Adoption reads the ReplicaSet live: the cache may not know yet that it was deleted. */
  private async isLive(rs: ReplicaSetObject): Promise<boolean> {
    try {
      const fresh = await this.client.get(replicasets, rs.metadata.namespace, rs.metadata.name!);
      return fresh.metadata.uid === rs.metadata.uid && !fresh.metadata.deletionTimestamp;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private async writeStatus(rs: ReplicaSetObject, status: NonNullable<ReplicaSetObject['status']>): Promise<ReplicaSetObject> {
    const next = { ...status, observedGeneration: rs.metadata.generation ?? 1 };
    if (deepEqual(rs.status ?? {}, next)) return rs;
    let current = rs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client.update<ReplicaSetObject>(replicasets, { ...current, status: next }, 'status');
      } catch (err) {
        if (isNotFound(err)) return rs;
        if (!isConflict(err) || attempt > 0) throw err;
      }
      // Someone else wrote it (often the Deployment controller). Same generation: the status we
      // computed still describes its spec, so write it again; a new spec gets its own sync.
      current = await this.client.get<ReplicaSetObject>(replicasets, rs.metadata.namespace, rs.metadata.name!);
      if (current.metadata.generation !== rs.metadata.generation) return current;
    }
  }

  // ---- event handlers: map a pod change to the ReplicaSet(s) that care ----

  private ownerOf(pod: PodObject): string | undefined {
    const ref = controllerOf(pod);
    if (ref?.kind !== 'ReplicaSet') return undefined;
    const key = `${pod.metadata.namespace}/${ref.name}`;
    return this.replicaSets.get(key)?.metadata.uid === ref.uid ? key : undefined;
  }

  private enqueueSelecting(pod: PodObject): void {
    for (const rs of this.replicaSets.list()) {
      if (rs.metadata.namespace !== pod.metadata.namespace) continue;
      const selector = fromLabelSelector(rs.spec.selector);
      if (selector.length > 0 && matches(selector, pod.metadata.labels)) this.queue.add(objectKey(rs));
    }
  }

  private podAdded(pod: PodObject): void {
    if (pod.metadata.deletionTimestamp) { this.podDeleted(pod); return; }
    const ref = controllerOf(pod);
    if (ref) {
      const key = this.ownerOf(pod);
      if (key) { this.expectations.creationObserved(key); this.queue.add(key); }
      return;
    }
    this.enqueueSelecting(pod);
  }

  private podUpdated(old: PodObject, pod: PodObject): void {
    if (old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
    const labelsChanged = !deepEqual(old.metadata.labels, pod.metadata.labels);
    if (pod.metadata.deletionTimestamp) {
      // A pod being deleted counts as deleted for expectations: it no longer counts as a replica.
      this.podDeleted(pod);
      if (labelsChanged) this.podDeleted(old);
      return;
    }
    const oldRef = controllerOf(old);
    const ref = controllerOf(pod);
    const refChanged = !deepEqual(oldRef, ref);
    if (refChanged && oldRef) { const oldKey = this.ownerOf(old); if (oldKey) this.queue.add(oldKey); }
    if (ref) {
      const key = this.ownerOf(pod);
      if (!key) return;
      this.queue.add(key);
      const minReady = this.replicaSets.get(key)?.spec.minReadySeconds ?? 0;
      if (minReady > 0 && !isPodReady(old) && isPodReady(pod)) this.queue.addAfter(key, minReady * 1000);
      return;
    }
    if (labelsChanged || refChanged) this.enqueueSelecting(pod);
  }

  private podDeleted(pod: PodObject): void {
    const key = this.ownerOf(pod);
    if (!key) return;
    this.expectations.deletionObserved(key, objectKey(pod));
    this.queue.add(key);
  }
}

// ---- pure builders ----

/** A pod from the ReplicaSet's template, named `RSNAME-xxxxx` and controlled by it. */
export function newPod(rs: ReplicaSetObject): KubeObject {
  const template = rs.spec.template!;
  const meta = template.metadata ?? {};
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      generateName: `${rs.metadata.name}-`, namespace: rs.metadata.namespace!,
      labels: { ...meta.labels },
      ...(meta.annotations && { annotations: { ...meta.annotations } }),
      ...(meta.finalizers && { finalizers: [...meta.finalizers] }),
      ownerReferences: [controllerRefTo(rs)],
    },
    spec: structuredClone(template.spec),
  };
}

const phaseRank: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function readySince(pod: PodObject): number {
  const t = findCondition(pod.status?.conditions, 'Ready')?.lastTransitionTime;
  return t ? Date.parse(t) : 0;
}

const restarts = (pod: PodObject) => (pod.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);

/**
 * Kubernetes' ActivePods order, the pods to delete first first: unscheduled before scheduled,
 * Pending before Unknown before Running, not ready before ready, ready for less time first,
 * more restarts first, then newest first.
 */
export function comparePodsForDeletion(a: PodObject, b: PodObject): number {
  const scheduled = (p: PodObject) => (p.spec.nodeName ? 1 : 0);
  if (scheduled(a) !== scheduled(b)) return scheduled(a) - scheduled(b);
  const phase = (p: PodObject) => phaseRank[p.status?.phase ?? 'Pending'] ?? 0;
  if (phase(a) !== phase(b)) return phase(a) - phase(b);
  const ready = (p: PodObject) => (isPodReady(p) ? 1 : 0);
  if (ready(a) !== ready(b)) return ready(a) - ready(b);
  if (ready(a) && readySince(a) !== readySince(b)) return readySince(b) - readySince(a);
  if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
  const created = (p: PodObject) => Date.parse(p.metadata.creationTimestamp ?? '') || 0;
  if (created(a) !== created(b)) return created(b) - created(a);
  return (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

export function podsToDelete(pods: PodObject[], count: number): PodObject[] {
  return [...pods].sort(comparePodsForDeletion).slice(0, count);
}

/** The status a ReplicaSet's owned active pods add up to, with ReplicaFailure while creates or deletes fail. */
export function calculateReplicaSetStatus(rs: ReplicaSetObject, owned: PodObject[], manageError: Error | undefined,
  now: Date): NonNullable<ReplicaSetObject['status']> {
  const templateLabels = fromLabelSelector({ matchLabels: rs.spec.template?.metadata?.labels ?? {} });
  const minReady = rs.spec.minReadySeconds ?? 0;
  let conditions: Condition[] | undefined = rs.status?.conditions;
  const failure = findCondition(conditions, 'ReplicaFailure');
  if (manageError && !failure) {
    const reason = (rs.spec.replicas ?? 1) > owned.length ? 'FailedCreate' : 'FailedDelete';
    conditions = [...(conditions ?? []), { type: 'ReplicaFailure', status: 'True', reason, message: manageError.message, lastTransitionTime: timestamp(now) }];
  } else if (!manageError && failure) {
    conditions = conditions!.filter((c) => c.type !== 'ReplicaFailure');
  }
  return {
    replicas: owned.length,
    fullyLabeledReplicas: owned.filter((p) => matches(templateLabels, p.metadata.labels)).length,
    readyReplicas: owned.filter(isPodReady).length,
    availableReplicas: owned.filter((p) => isPodAvailable(p, minReady, now)).length,
    ...(rs.status?.observedGeneration !== undefined && { observedGeneration: rs.status.observedGeneration }),
    ...(conditions && conditions.length > 0 && { conditions }),
  };
}

/**
 * Runs `count` calls in batches of 1, 2, 4, ... and stops at the first batch with a failure,
 * as Kubernetes' slowStartBatch: a template the API rejects costs one request, not hundreds.
 */
export async function slowStartBatch(count: number, initial: number, call: () => Promise<void>):
  Promise<{ succeeded: number; error?: Error }> {
  let remaining = count;
  let succeeded = 0;
  for (let batch = Math.min(remaining, initial); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, call));
    succeeded += results.filter((r) => r.status === 'fulfilled').length;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) return { succeeded, error: failed.reason as Error };
    remaining -= batch;
  }
  return { succeeded };
}
