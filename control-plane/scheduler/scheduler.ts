// The scheduler: watches pods without a node, picks one for each (filters, then scores) and
// binds through the pods/binding subresource, as kube-scheduler does.
//
//   pod event ──▶ queue ──▶ sync: filter ▶ score ▶ assume ──▶ bind (in flight, many at once)
//                   ▲              │ no node fits                 │ failed: forget, retry
//                   │              ▼                              ▼ ok: Event Scheduled
//                   └── cluster event (node added/changed, pod gone) ◀── parked: PodScheduled=False
//
// A scheduling cycle is synchronous, so no event can interleave with it; only the binding waits
// on the network, and the cache already counts the pod (assumed) while it does.
import type { Logger } from 'pino';
import type { Node, Pod } from '../api/core.ts';
import { isConflict, isNotFound } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { deepEqual, setCondition } from '../api/objects.ts';
import { resourceFor } from '../api/resources.ts';
import { annotationImagePlatforms, defaultSchedulerName } from '../api/well-known.ts';
import { resourcePath, type KubeClient } from '../client/client.ts';
import { WorkQueue } from '../client/workqueue.ts';
import { runWorkers } from '../controllers/runner.ts';
import { SchedulerCache } from './cache.ts';
import { filterNode, unschedulableMessage, type ClusterContext } from './filters.ts';
import { newPodInfo, podKey } from './pod-info.ts';
import { scoreNodes, selectHost } from './scores.ts';

export const reasonScheduled = 'Scheduled';
export const reasonFailedScheduling = 'FailedScheduling';

const pods = resourceFor('', 'pods')!;
// kube-scheduler's podInitialBackoffSeconds and podMaxBackoffSeconds: an unschedulable pod is
// retried on the next cluster change, but never sooner than this after its last attempt.
const initialBackoffMs = 1_000;
const maxBackoffMs = 10_000;
// Bindings in flight at once: enough to keep the API busy, bounded so a burst cannot open
// thousands of requests.
const defaultMaxInFlight = 64;

export interface Lister<T> { get(key: string): T | undefined; list(): T[] }
export interface Watchable<T> extends Lister<T> {
  on(handlers: { add?: (obj: T) => void; update?: (oldObj: T, newObj: T) => void; delete?: (obj: T) => void }): unknown;
}
export interface Recorder { record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void }
export type SchedulerClient = Pick<KubeClient, 'request' | 'patch'>;

export interface SchedulerOptions {
  client: SchedulerClient;
  nodes: Watchable<Node & KubeObject>;
  pods: Watchable<Pod & KubeObject>;
  recorder: Recorder;
  logger?: Logger;
  schedulerName?: string;
  maxInFlight?: number;
  clock?: () => number;
}

export type ScheduleResult = { nodeName: string } | { message: string };

interface Attempts { count: number; lastAt: number }

export class Scheduler {
  readonly cache = new SchedulerCache();
  readonly queue = new WorkQueue();
  /** Pods that fit nowhere, waiting for a cluster change. */
  private readonly parked = new Set<string>();
  private readonly attempts = new Map<string, Attempts>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly schedulerName: string;
  private readonly clock: () => number;

  constructor(private readonly options: SchedulerOptions) {
    this.schedulerName = options.schedulerName ?? defaultSchedulerName;
    this.clock = options.clock ?? Date.now;
    options.nodes.on({
      add: (node) => { this.cache.setNode(node); this.moveParked(); },
      update: (old, node) => { this.cache.setNode(node); if (nodeChangeMayHelp(old, node)) this.moveParked(); },
      delete: (node) => this.cache.removeNode(node.metadata.name!),
    });
    options.pods.on({
      add: (pod) => this.onPod(pod),
      update: (old, pod) => this.onPod(pod, old),
      delete: (pod) => this.onPodDeleted(pod),
    });
  }

  /** Runs until `stop`; the caller starts the informers and waits for them to sync first. */
  async run(): Promise<void> {
    await runWorkers(this.queue, 1, (key) => this.sync(key), this.options.logger);
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Waits for every binding and status write started so far (tests). */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private responsibleFor(pod: Pod): boolean {
    return !pod.spec.nodeName && !pod.metadata.deletionTimestamp && (pod.spec.schedulerName ?? defaultSchedulerName) === this.schedulerName;
  }

  private onPod(pod: Pod & KubeObject, old?: Pod & KubeObject): void {
    this.cache.updatePod(pod);
    const key = podKey(pod);
    if (pod.spec.nodeName || pod.metadata.deletionTimestamp) {
      this.parked.delete(key);
      this.attempts.delete(key);
      // A pod that finished frees its resources, like a deleted one.
      if (old?.spec.nodeName && !isFinished(old) && isFinished(pod)) this.moveParked();
      return;
    }
    if (!this.responsibleFor(pod) || this.cache.isAssumed(key)) return;
    // A parked pod comes back for a change of its own spec or labels, not for its status
    // (our own PodScheduled=False write would otherwise retry it in a loop).
    if (this.parked.has(key)) {
      if (!old || (deepEqual(old.spec, pod.spec) && deepEqual(old.metadata.labels, pod.metadata.labels))) return;
      this.parked.delete(key);
    }
    this.queue.add(key);
  }

  private onPodDeleted(pod: Pod & KubeObject): void {
    const key = podKey(pod);
    this.cache.deletePod(key);
    this.parked.delete(key);
    this.attempts.delete(key);
    if (pod.spec.nodeName) this.moveParked();
  }

  /** A cluster change that may make room: every parked pod gets another attempt (after its backoff). */
  private moveParked(): void {
    for (const key of this.parked) this.queue.add(key);
    this.parked.clear();
  }

  /** One key from the queue: schedule the pod if it still needs it. */
  async sync(key: string): Promise<{ requeueAfterMs?: number }> {
    const pod = this.options.pods.get(key);
    if (!pod || !this.responsibleFor(pod) || this.cache.isAssumed(key)) return {};
    const attempts = this.attempts.get(key);
    if (attempts) {
      const wait = attempts.lastAt + Math.min(initialBackoffMs * 2 ** (attempts.count - 1), maxBackoffMs) - this.clock();
      if (wait > 0) return { requeueAfterMs: wait };
    }
    if (this.inFlight.size >= (this.options.maxInFlight ?? defaultMaxInFlight)) await Promise.race(this.inFlight);
    const result = this.scheduleOne(pod);
    if ('nodeName' in result) {
      this.cache.assume(newPodInfo(pod), result.nodeName);
      this.track(this.bind(pod, result.nodeName));
    } else {
      this.attempts.set(key, { count: (attempts?.count ?? 0) + 1, lastAt: this.clock() });
      this.parked.add(key);
      this.track(this.reportUnschedulable(pod, result.message));
    }
    return {};
  }

  /** The scheduling cycle: synchronous, from the cache only. */
  scheduleOne(pod: Pod): ScheduleResult {
    const info = newPodInfo(pod);
    const cluster: ClusterContext = { imagePlatforms: this.cache.imagePlatforms() };
    const feasible = [];
    const failures: string[][] = [];
    for (const node of this.cache.nodes.values()) {
      const reasons = filterNode(pod, info, node, cluster);
      if (reasons.length > 0) failures.push(reasons);
      else feasible.push(node);
    }
    if (feasible.length === 0) return { message: unschedulableMessage(this.cache.nodes.size, failures) };
    if (feasible.length === 1) return { nodeName: feasible[0]!.name };
    return { nodeName: feasible[selectHost(scoreNodes(pod, info, feasible))]!.name };
  }

  private track(work: Promise<void>): void {
    const p = work.catch((err: unknown) => this.options.logger?.warn({ err: (err as Error).message }, 'scheduler write failed'))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async bind(pod: Pod & KubeObject, nodeName: string): Promise<void> {
    const { namespace, name } = pod.metadata;
    const key = podKey(pod);
    try {
      await this.options.client.request('POST', resourcePath(pods, namespace, name, 'binding'), {
        apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace, uid: pod.metadata.uid },
        target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
      });
    } catch (err) {
      this.cache.forget(key);
      this.moveParked(); // what we assumed is free again
      // Deleted meanwhile, or already bound (by someone else): the informer will tell us.
      if (isNotFound(err) || isConflict(err)) return;
      this.queue.addRateLimited(key);
      throw err;
    }
    this.attempts.delete(key);
    this.options.recorder.record(pod, 'Normal', reasonScheduled, `Successfully assigned ${namespace}/${name} to ${nodeName}`);
  }

  private async reportUnschedulable(pod: Pod & KubeObject, message: string): Promise<void> {
    this.options.recorder.record(pod, 'Warning', reasonFailedScheduling, message);
    const current = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (current?.status === 'False' && current.reason === 'Unschedulable' && current.message === message) return;
    const conditions = setCondition(pod.status?.conditions, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null });
    try {
      await this.options.client.patch(pods, pod.metadata.namespace, pod.metadata.name!, { status: { conditions } }, 'merge', 'status');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

const isFinished = (pod: Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/** Whether a node update could let a parked pod fit (a heartbeat cannot). */
export function nodeChangeMayHelp(old: Node, node: Node): boolean {
  const ready = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return ready(old) !== ready(node) ||
    !deepEqual(old.spec, node.spec) ||
    !deepEqual(old.metadata.labels, node.metadata.labels) ||
    old.metadata.annotations?.[annotationImagePlatforms] !== node.metadata.annotations?.[annotationImagePlatforms] ||
    !deepEqual(old.status?.allocatable, node.status?.allocatable) ||
    !deepEqual(old.status?.images, node.status?.images);
}
