// The node lifecycle controller, with its taint manager and pod garbage collector, as in
// Kubernetes' kube-controller-manager:
//  - A node is healthy while its agent renews its Lease (or posts Ready). After the grace period
//    without either, its conditions become Unknown and it gets the unreachable:NoExecute taint;
//    an agent that reports Ready=False gets not-ready:NoExecute; a cordoned node gets
//    unschedulable:NoSchedule. The expiry is a timed requeue at last heartbeat + grace.
//  - Pods on a node with a NoExecute taint are evicted once their toleration runs out: marked
//    DisruptionTarget, an Event, deleted; force-deleted when the node is unreachable, since no
//    agent will confirm (Kubernetes' pod GC does the same for pods on unreachable nodes).
//  - Pods bound to a node that no longer exists are force-deleted (pod GC).
// Heartbeats are observed with this controller's clock, never compared with the agent's: a
// Raspberry Pi without a real-time clock may be hours off.
// Before a node is declared Unknown, its Lease is read from the API server, not only from the
// informer: on a loaded machine this process can stall for seconds, and when it wakes its grace
// timer fires before the Lease events queued meanwhile are read, which would mark a healthy
// node NotReady (and evict its pods two seconds later). One read per node about to go stale.
import type { Logger } from 'pino';
import type { Node, Pod, Taint } from '../api/core.ts';
import type { Lease } from '../api/coordination.ts';
import { isConflict, isNotFound } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { setCondition, timestamp } from '../api/objects.ts';
import { resourceFor } from '../api/resources.ts';
import { conditionDisruptionTarget, nodeLeaseNamespace, taintNodeUnreachable } from '../api/well-known.ts';
import type { KubeClient } from '../client/client.ts';
import { WorkQueue } from '../client/workqueue.ts';
import type { Recorder, Watchable } from '../scheduler/scheduler.ts';
import { evictionTime, hasNoExecuteTaint, noExecuteTaints, planNode } from './node-health.ts';
import { runWorkers, type SyncResult } from './runner.ts';

export const reasonNodeNotReady = 'NodeNotReady';
export const reasonNodeReady = 'NodeReady';
export const reasonTaintManagerEviction = 'TaintManagerEviction';
export const reasonDeletionByTaintManager = 'DeletionByTaintManager';
export const reasonPodGC = 'PodGarbageCollected';

const nodes = resourceFor('', 'nodes')!;
const pods = resourceFor('', 'pods')!;
const leases = resourceFor('coordination.k8s.io', 'leases')!;
// A pod bound to a missing node waits this long before it is deleted, in case the Node is only
// late to appear (an agent registering); Kubernetes' pod GC quarantines for 40 s.
const defaultOrphanQuarantineMs = 10_000;

export type NodeLifecycleClient = Pick<KubeClient, 'get' | 'update' | 'patch' | 'delete'>;

export interface NodeLifecycleOptions {
  client: NodeLifecycleClient;
  nodes: Watchable<Node & KubeObject>;
  pods: Watchable<Pod & KubeObject>;
  leases: Watchable<Lease & KubeObject>;
  recorder: Recorder;
  nodeMonitorGracePeriodMs: number;
  defaultTolerationSeconds: number;
  orphanQuarantineMs?: number;
  logger?: Logger;
  clock?: () => number;
}

interface Probe { renewTime?: string; heartbeat?: string; observedAt: number }

export class NodeLifecycleController {
  readonly nodeQueue = new WorkQueue();
  readonly podQueue = new WorkQueue();
  /** Node name -> when this controller last saw its agent alive. */
  private readonly probes = new Map<string, Probe>();
  /** Node name -> the Ready status last seen, for NodeReady/NodeNotReady Events on change. */
  private readonly lastReady = new Map<string, string>();
  /** Node name -> resourceVersion of our last write: skip syncs until the cache has caught up. */
  private readonly lastWritten = new Map<string, number>();
  private readonly podsByNode = new Map<string, Set<string>>();
  private readonly orphanSince = new Map<string, number>();
  /** Pod uid -> deleted by us: a lagging cache must not evict it twice. */
  private readonly evicted = new Set<string>();
  /** `node/key/effect` -> when first seen, for NoExecute taints without timeAdded. */
  private readonly taintSeen = new Map<string, number>();
  private readonly clock: () => number;

  constructor(private readonly options: NodeLifecycleOptions) {
    this.clock = options.clock ?? Date.now;
    options.leases.on({ add: (l) => this.observeLease(l), update: (_o, l) => this.observeLease(l) });
    options.nodes.on({
      add: (n) => { this.observeNode(n); this.nodeQueue.add(n.metadata.name!); },
      update: (old, n) => {
        this.observeNode(n);
        this.nodeQueue.add(n.metadata.name!);
        if (noExecuteTaints(old) !== noExecuteTaints(n)) this.enqueuePodsOn(n.metadata.name!);
      },
      delete: (n) => {
        const name = n.metadata.name!;
        this.probes.delete(name);
        this.lastReady.delete(name);
        this.lastWritten.delete(name);
        this.enqueuePodsOn(name);
      },
    });
    options.pods.on({
      add: (p) => this.onPod(p),
      update: (_old, p) => this.onPod(p),
      delete: (p) => {
        this.index(p, false);
        this.evicted.delete(p.metadata.uid!);
        this.orphanSince.delete(podKeyOf(p));
      },
    });
  }

  /** Runs until `stop`; the caller starts the informers and waits for them to sync first. */
  async run(): Promise<void> {
    await Promise.all([
      runWorkers(this.nodeQueue, 1, (name) => this.syncNode(name), this.options.logger),
      runWorkers(this.podQueue, 2, (key) => this.syncPod(key), this.options.logger),
    ]);
  }

  stop(): void {
    this.nodeQueue.shutDown();
    this.podQueue.shutDown();
  }

  private observeLease(lease: Lease & KubeObject): void {
    const name = lease.metadata.name!;
    const renewTime = lease.spec?.renewTime;
    const probe = this.probes.get(name);
    if (!probe || probe.renewTime !== renewTime) this.probes.set(name, { ...probe, renewTime, observedAt: this.clock() });
    this.nodeQueue.add(name);
  }

  private observeNode(node: Node & KubeObject): void {
    const name = node.metadata.name!;
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    // Only a Ready=True post is the agent's; our own Unknown keeps the old heartbeat time.
    const heartbeat = ready?.status === 'True' ? ready.lastHeartbeatTime : undefined;
    const probe = this.probes.get(name);
    if (!probe) this.probes.set(name, { heartbeat, observedAt: this.clock() });
    else if (heartbeat !== undefined && heartbeat !== probe.heartbeat) this.probes.set(name, { ...probe, heartbeat, observedAt: this.clock() });
  }

  private onPod(pod: Pod & KubeObject): void {
    this.index(pod, true);
    const nodeName = pod.spec.nodeName;
    if (!nodeName) return;
    const node = this.options.nodes.get(nodeName);
    // Only pods that may need action: the steady state (a healthy node) costs nothing.
    if (!node || noExecuteTaints(node) !== '') this.podQueue.add(podKeyOf(pod));
  }

  private index(pod: Pod & KubeObject, present: boolean): void {
    const nodeName = pod.spec.nodeName;
    if (!nodeName) return;
    let set = this.podsByNode.get(nodeName);
    if (present) {
      if (!set) { set = new Set(); this.podsByNode.set(nodeName, set); }
      set.add(podKeyOf(pod));
    } else if (set) {
      set.delete(podKeyOf(pod));
      if (set.size === 0) this.podsByNode.delete(nodeName);
    }
  }

  private enqueuePodsOn(nodeName: string): void {
    for (const key of this.podsByNode.get(nodeName) ?? []) this.podQueue.add(key);
  }

  /** Health, conditions and taints of one node; requeues itself for when its grace period ends. */
  async syncNode(name: string): Promise<SyncResult> {
    const node = this.options.nodes.get(name);
    if (!node) return {};
    const written = this.lastWritten.get(name);
    if (written !== undefined && Number(node.metadata.resourceVersion) < written) return {}; // our write's event is coming
    const now = this.clock();
    const probe = this.probes.get(name) ?? { observedAt: now };
    if (!this.probes.has(name)) this.probes.set(name, probe);
    const grace = this.options.nodeMonitorGracePeriodMs;
    let stale = now - probe.observedAt >= grace;
    if (stale && !isUnknown(node) && await this.leaseRenewedUnseen(name, probe)) stale = false;
    const plan = planNode(node, stale, timestamp(new Date(now)));
    let current: KubeObject = node;
    if (plan.conditions) {
      const next = structuredClone(node);
      next.status = { ...next.status, conditions: plan.conditions };
      current = await this.options.client.update(nodes, next, 'status');
      this.lastWritten.set(name, Number(current.metadata.resourceVersion));
      this.options.logger?.info({ node: name }, 'node stopped posting status: Ready is Unknown');
    }
    if (plan.taints) {
      current = await this.options.client.patch(nodes, undefined, name,
        { metadata: { resourceVersion: current.metadata.resourceVersion }, spec: { taints: plan.taints } });
      this.lastWritten.set(name, Number(current.metadata.resourceVersion));
    }
    this.recordReadyChange(current as Node & KubeObject, plan.ready);
    const seen = this.probes.get(name)!.observedAt;
    return stale ? {} : { requeueAfterMs: Math.max(1, seen + grace - now + 1) };
  }

  /**
   * Reads the node's Lease from the API server: a renewal the informer has not delivered yet
   * counts as a heartbeat seen now. False when the Lease is missing, unchanged or unreadable
   * (the informer's view then stands).
   */
  private async leaseRenewedUnseen(name: string, probe: Probe): Promise<boolean> {
    let renewTime: string | undefined;
    try {
      renewTime = (await this.options.client.get<Lease & KubeObject>(leases, nodeLeaseNamespace, name))?.spec?.renewTime;
    } catch (err) {
      if (!isNotFound(err)) this.options.logger?.warn({ node: name, err: (err as Error).message }, 'could not read the node lease before marking it NotReady');
      return false;
    }
    if (!renewTime || renewTime === probe.renewTime) return false;
    this.probes.set(name, { ...this.probes.get(name), renewTime, observedAt: this.clock() });
    this.options.logger?.info({ node: name }, 'node lease renewed but not yet seen by the informer: not marking it NotReady');
    return true;
  }

  private recordReadyChange(node: Node & KubeObject, ready: string): void {
    const name = node.metadata.name!;
    const before = this.lastReady.get(name);
    this.lastReady.set(name, ready);
    if (before === undefined || (before === 'True') === (ready === 'True')) return;
    const reason = ready === 'True' ? reasonNodeReady : reasonNodeNotReady;
    this.options.recorder.record(node, 'Normal', reason, `Node ${name} status is now: ${reason}`);
  }

  /** Eviction of one pod from a tainted node, or collection of a pod whose node is gone. */
  async syncPod(key: string): Promise<SyncResult> {
    const pod = this.options.pods.get(key);
    if (!pod?.spec.nodeName || this.evicted.has(pod.metadata.uid!)) return {};
    const node = this.options.nodes.get(pod.spec.nodeName);
    if (!node) return this.collectOrphan(key, pod);
    this.orphanSince.delete(key);
    const unreachable = hasNoExecuteTaint(node, taintNodeUnreachable);
    if (pod.metadata.deletionTimestamp) {
      // Being deleted on a node that cannot confirm it: finish the deletion for it.
      if (unreachable) await this.forceDelete(pod);
      return {};
    }
    const at = evictionTime(pod, node.spec?.taints, this.options.defaultTolerationSeconds, (t) => this.firstSeen(node, t));
    if (at === undefined) return {};
    const now = this.clock();
    if (at > now) return { requeueAfterMs: at - now };
    await this.evict(pod, unreachable);
    return {};
  }

  private firstSeen(node: Node, taint: Taint): number {
    const key = `${node.metadata.name}/${taint.key}/${taint.effect}`;
    let at = this.taintSeen.get(key);
    if (at === undefined) { at = this.clock(); this.taintSeen.set(key, at); }
    return at;
  }

  private async evict(pod: Pod & KubeObject, force: boolean): Promise<void> {
    const { namespace, name } = pod.metadata;
    const conditions = setCondition(pod.status?.conditions, {
      type: conditionDisruptionTarget, status: 'True', reason: reasonDeletionByTaintManager,
      message: 'Taint manager: deleting due to NoExecute taint',
    });
    try {
      await this.options.client.patch(pods, namespace, name!, { status: { conditions } }, 'merge', 'status');
      this.options.recorder.record(pod, 'Normal', reasonTaintManagerEviction, `Marking for deletion Pod ${namespace}/${name}`);
      await this.options.client.delete(pods, namespace, name!, { ...(force && { gracePeriodSeconds: 0 }), preconditions: { uid: pod.metadata.uid! } });
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return; // gone, or replaced by a new pod of the same name
      throw err;
    }
    this.evicted.add(pod.metadata.uid!);
    this.options.logger?.info({ pod: `${namespace}/${name}`, node: pod.spec.nodeName, force }, 'evicted pod from tainted node');
  }

  private async forceDelete(pod: Pod & KubeObject): Promise<void> {
    try {
      await this.options.client.delete(pods, pod.metadata.namespace, pod.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid! } });
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return;
      throw err;
    }
    this.evicted.add(pod.metadata.uid!);
  }

  private async collectOrphan(key: string, pod: Pod & KubeObject): Promise<SyncResult> {
    const now = this.clock();
    const since = this.orphanSince.get(key) ?? now;
    this.orphanSince.set(key, since);
    const wait = since + (this.options.orphanQuarantineMs ?? defaultOrphanQuarantineMs) - now;
    if (wait > 0) return { requeueAfterMs: wait };
    try {
      await this.options.client.get(nodes, undefined, pod.spec.nodeName!);
      this.orphanSince.delete(key);
      return {}; // the node exists after all: the informer is behind
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.options.recorder.record(pod, 'Normal', reasonPodGC, `Deleting pod ${pod.metadata.namespace}/${pod.metadata.name}: its node ${pod.spec.nodeName} no longer exists`);
    await this.forceDelete(pod);
    this.orphanSince.delete(key);
    return {};
  }
}

const isUnknown = (node: Node) => node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown';
const podKeyOf = (pod: KubeObject) => `${pod.metadata.namespace}/${pod.metadata.name}`;
