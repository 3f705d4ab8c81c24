/// <reference lib="dom" />
// The lab as the browser sees it: one reflector per resource the dashboard draws, per-board
// version counters (so a change to one pod redraws one card, not fifty), the connection's state
// for the banner, and node metrics. Metrics are the one thing polled: metrics.k8s.io is not
// watchable (in Kubernetes neither), so that panel refreshes on an interval.
import type { KubeObject } from '../api/meta.ts';
import { Api, ApiRequestError } from './api.ts';
import { condition, cpuTemperatureAnnotation, quantity, type NodeObject, type PodObject } from './derive.ts';
import { dashboardPod } from './pod-projection.ts';
import type { EventObject } from './failover.ts';
import { Reflector, objectKey, type Change } from './reflector.ts';

// Five watch streams, no more: over HTTP/1.1 a browser opens at most six connections to one
// server, and a watch holds one for as long as it runs. The sixth is left for everything else
// (metrics, a log panel, the admin's buttons). So Endpoints are not watched but derived from the
// pods and the Service's selector, as the endpoints controller derives them, and a board's Lease
// is read once, when the board goes NotReady (its renewTime is then the last heartbeat).
export const resourcePaths = {
  nodes: '/api/v1/nodes',
  pods: '/api/v1/pods',
  deployments: '/apis/apps/v1/deployments',
  services: '/api/v1/services',
  events: '/api/v1/events',
} as const;
export type ResourceName = keyof typeof resourcePaths;
// The small lists first: the page's first requests take the connections already open (the
// page's own files came over them), and the rest wait for new ones, whose TLS handshakes wait
// in turn while the server builds the pods list. Asked last, the pods list costs a handshake;
// asked first, it kept two small lists waiting 0.4 s for theirs.
const startOrder: ResourceName[] = ['deployments', 'services', 'events', 'nodes', 'pods'];
/** The pods are listed in the page's own cut (pod-projection.ts), and watched as the API sends them. */
const listPaths: Partial<Record<ResourceName, string>> = { pods: '/ui/lists/pods' };
const projections: Partial<Record<ResourceName, (obj: KubeObject) => KubeObject>> = { pods: dashboardPod };

export type Connection =
  | { state: 'connecting' }
  | { state: 'live'; reconnectedAt?: number }
  | { state: 'lost'; since: number; retryMs: number; error: string }
  | { state: 'refused'; error: ApiRequestError };

export interface NodeMetrics { cpu?: number; memory?: number; temperature?: number }
interface NodeMetricsObject { metadata: { name: string; annotations?: Record<string, string> }; usage: { cpu?: string; memory?: string } }
export type MetricsState = { state: 'unknown' } | { state: 'unavailable'; why: string } | { state: 'ok'; nodes: Map<string, NodeMetrics> };

// Usage samples are taken every few seconds on the boards; refreshing faster shows nothing new.
const metricsIntervalMs = 10_000;
// A server without the metrics API answers 404; ask again now and then (it may be upgraded).
const metricsRetryMs = 60_000;
const renewalsKept = 8;

export class Cluster {
  readonly reflectors: Record<ResourceName, Reflector>;
  connection: Connection = { state: 'connecting' };
  metrics: MetricsState = { state: 'unknown' };
  /** Bumped on any change: the page redraws on the next animation frame. */
  version = 0;
  /** Per board: bumped when the Node or a pod on it changes. */
  readonly nodeVersions = new Map<string, number>();
  /** Per board: the pods on it, kept in step with the pod reflector. */
  readonly podsByNode = new Map<string, Map<string, PodObject>>();
  readonly podNodes = new Map<string, string>();
  readonly renewals = new Map<string, number[]>();
  synced = false;
  /** Resources whose first list is in (shown as `data-lists` on the page, for tests to report). */
  readonly listed = new Set<ResourceName>();
  private readonly failing = new Set<ResourceName>();
  private readonly abort = new AbortController();
  private listeners: (() => void)[] = [];
  private metricsStarted = false;
  private allListed!: () => void;
  /**
   * Resolved when every list is in. A browser opens six connections to a server over HTTP/1.1
   * and a watch holds one for good: started as each list came in, the watches took the
   * connections the remaining lists were waiting for. The watches start from their lists'
   * revisions, so nothing written in between is missed.
   */
  private readonly listsIn = new Promise<void>((resolve) => { this.allListed = resolve; });

  constructor(readonly api: Api) {
    const entries = (Object.keys(resourcePaths) as ResourceName[]).map((name) => [name, new Reflector({
      api, path: resourcePaths[name],
      ...(listPaths[name] && { listPath: listPaths[name] }),
      ...(projections[name] && { project: projections[name] }),
      beforeWatch: this.listsIn,
      on: {
        change: (change, obj, old) => this.onChange(name, change, obj, old),
        listed: () => { this.listed.add(name); this.markSynced(this.listed.size === entries.length); this.bump(); },
        failed: (err, retryMs) => this.onFailed(name, err, retryMs),
        recovered: () => this.onRecovered(name),
        refused: (err) => this.onRefused(name, err),
      },
    })] as const);
    this.reflectors = Object.fromEntries(entries) as Record<ResourceName, Reflector>;
  }

  start(): this {
    for (const name of startOrder) void this.reflectors[name].run(this.abort.signal);
    return this;
  }

  stop(): void { this.abort.abort(); }

  subscribe(listener: () => void): () => void {
    this.listeners.push(listener);
    return () => { this.listeners = this.listeners.filter((l) => l !== listener); };
  }

  items<T extends KubeObject>(name: ResourceName): T[] { return [...this.reflectors[name].items.values()] as T[]; }
  nodes(): NodeObject[] { return this.items<NodeObject>('nodes'); }
  pods(): PodObject[] { return this.items<PodObject>('pods'); }
  events(): EventObject[] { return this.items<EventObject>('events'); }

  private bump(): void {
    this.version++;
    for (const l of this.listeners) l();
  }

  private touch(node: string | undefined): void {
    if (node) this.nodeVersions.set(node, (this.nodeVersions.get(node) ?? 0) + 1);
  }

  private onChange(name: ResourceName, change: Change, obj: KubeObject, old: KubeObject | undefined): void {
    if (name === 'nodes') this.onNode(obj as NodeObject, old as NodeObject | undefined);
    if (name === 'pods') this.onPod(change, obj as PodObject, old as PodObject | undefined);
    this.bump();
  }

  private onNode(node: NodeObject, old: NodeObject | undefined): void {
    const name = node.metadata.name!;
    this.touch(name);
    const ready = (n: NodeObject | undefined) => condition(n ?? {}, 'Ready')?.status === 'True';
    if (ready(node) || (old && !ready(old))) return;
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${encodeURIComponent(name)}`;
    this.api.get<KubeObject>(path).then((lease) => { this.onLease(lease); this.touch(name); this.bump(); })
      .catch(() => { /* no Lease (an agent that only posts status): the condition's heartbeat stands in */ });
  }

  private onPod(change: Change, pod: PodObject, old: PodObject | undefined): void {
    const key = objectKey(pod);
    const before = old?.spec.nodeName;
    const now = pod.spec.nodeName;
    if (before && (before !== now || change === 'deleted')) this.podsByNode.get(before)?.delete(key);
    if (now && change !== 'deleted') {
      let onNode = this.podsByNode.get(now);
      if (!onNode) this.podsByNode.set(now, onNode = new Map());
      onNode.set(key, pod);
      this.podNodes.set(key, now);
    }
    this.touch(before);
    this.touch(now);
  }

  private onLease(lease: KubeObject): void {
    const renew = Date.parse(String((lease.spec as { renewTime?: string } | undefined)?.renewTime ?? ''));
    if (!Number.isFinite(renew)) return;
    const list = this.renewals.get(lease.metadata.name!) ?? [];
    if (list[list.length - 1] !== renew) list.push(renew);
    this.renewals.set(lease.metadata.name!, list.slice(-renewalsKept));
  }

  private onFailed(name: ResourceName, err: unknown, retryMs: number): void {
    this.failing.add(name);
    const since = this.connection.state === 'lost' ? this.connection.since : Date.now();
    this.connection = { state: 'lost', since, retryMs, error: err instanceof Error ? err.message : String(err) };
    this.bump();
  }

  private onRecovered(name: ResourceName): void {
    this.failing.delete(name);
    if (this.failing.size === 0 && this.connection.state === 'lost') {
      this.connection = { state: 'live', reconnectedAt: Date.now() };
      this.bump();
    }
  }

  private onRefused(name: ResourceName, err: ApiRequestError): void {
    // A resource this token may not read is left empty; a refused token ends the session.
    if (err.code === 403) { this.listed.add(name); this.markSynced(this.listed.size === Object.keys(resourcePaths).length); this.bump(); return; }
    this.connection = { state: 'refused', error: err };
    this.stop();
    this.bump();
  }

  /** The bench reads the mark: the time the lists took, apart from the time drawing them took. */
  private markSynced(all: boolean): void {
    if (all && !this.synced) { performance.mark('labkube:lists-in'); this.allListed(); }
    // Metrics start once the lists are in: five lists and the role read already take the six
    // connections a browser opens to one server, and the first picture waits on the lists.
    if (all && !this.metricsStarted) { this.metricsStarted = true; void this.pollMetrics(); }
    if (all && this.connection.state === 'connecting') this.connection = { state: 'live' };
    this.synced = all;
  }

  /** Polled, not watched: see the top of this file. */
  private async pollMetrics(): Promise<void> {
    while (!this.abort.signal.aborted) {
      let wait = metricsIntervalMs;
      try {
        const list = await this.api.get<{ items: NodeMetricsObject[] }>('/apis/metrics.k8s.io/v1beta1/nodes');
        const nodes = new Map(list.items.map((m) => [m.metadata.name, nodeMetrics(m)]));
        this.metrics = { state: 'ok', nodes };
        for (const name of nodes.keys()) this.touch(name);
      } catch (err) {
        this.metrics = { state: 'unavailable', why: err instanceof Error ? err.message : String(err) };
        if (err instanceof ApiRequestError && (err.code === 404 || err.code === 403)) wait = metricsRetryMs;
        for (const name of this.nodeVersions.keys()) this.touch(name);
      }
      this.bump();
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

function nodeMetrics(m: NodeMetricsObject): NodeMetrics {
  const cpu = quantity(m.usage?.cpu);
  const memory = quantity(m.usage?.memory);
  const temperature = Number(m.metadata.annotations?.[cpuTemperatureAnnotation] ?? NaN);
  return { ...(cpu !== undefined && { cpu }), ...(memory !== undefined && { memory }), ...(Number.isFinite(temperature) && { temperature }) };
}
