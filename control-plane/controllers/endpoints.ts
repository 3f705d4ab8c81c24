// The Endpoints controller: for every Service with a selector, one v1 Endpoints object of the same
// name listing the pods it selects, as Kubernetes' pkg/controller/endpoint writes it: ready
// pods under `addresses`, the others under `notReadyAddresses`, grouped into subsets of pods that
// share the same ports (a named targetPort resolves per pod, so pods may differ).
//
// One rule is labkube's own: a pod counts as ready only while its node is Ready too. Kubernetes
// leaves that to the node lifecycle controller marking the pods of a lost node not ready; here a
// node turning NotReady or Unknown moves its pods out of the ready addresses in the same sync, so
// the proxies stop sending new connections there as soon as the node is known to be gone.
//
// The pieces shared with the EndpointSlice controller live here too: which pods a Service
// selects, how a pod's port and readiness are read, which events can change a Service's
// endpoints, and OwnWrites, which keeps a lagging cache from making a controller write twice.
import type { Logger } from 'pino';
import type { Endpoints, Node, Service, ServicePort } from '../api/core.ts';
import { isConflict, isNotFound } from '../api/errors.ts';
import { matches } from '../api/labels.ts';
import type { KubeObject } from '../api/meta.ts';
import { deepEqual, findCondition } from '../api/objects.ts';
import { resourceFor } from '../api/resources.ts';
import { annotationEndpointsOverCapacity, labelHeadlessService, labelTopologyZone } from '../api/well-known.ts';
import type { KubeClient } from '../client/client.ts';
import { objectKey } from '../client/informer.ts';
import { WorkQueue } from '../client/workqueue.ts';
import { isPodReady, type InformerLike, type PodObject, type Recorder } from './pod-template.ts';
import { runWorkers, type SyncResult } from './runner.ts';

export const reasonFailedToCreateEndpoint = 'FailedToCreateEndpoint';
export const reasonFailedToUpdateEndpoint = 'FailedToUpdateEndpoint';

export type ServiceObject = Service & KubeObject;
export type NodeObject = Node & KubeObject;
export type EndpointsObject = Endpoints & KubeObject;
type Subset = NonNullable<Endpoints['subsets']>[number];
type Address = NonNullable<Subset['addresses']>[number];
type Port = NonNullable<Subset['ports']>[number] & { appProtocol?: string };

const endpointsResource = resourceFor('', 'endpoints')!;
// Kubernetes' maxCapacity: an Endpoints object stops at 1000 addresses (EndpointSlices have no limit).
const maxCapacity = 1000;
// Endpoints an old leader election left behind are not a Service's: Kubernetes never deletes them.
const leaderElectionAnnotation = 'control-plane.alpha.kubernetes.io/leader';

export interface EndpointsControllerOptions {
  client: Pick<KubeClient, 'create' | 'update' | 'delete'>;
  services: InformerLike<ServiceObject>;
  pods: InformerLike<PodObject>;
  nodes: InformerLike<NodeObject>;
  endpoints: InformerLike<EndpointsObject>;
  recorder: Recorder;
  logger?: Logger;
}

export class EndpointsController {
  readonly queue = new WorkQueue();
  private readonly writes = new OwnWrites<EndpointsObject>();

  constructor(private readonly options: EndpointsControllerOptions) {
    watchEndpointInputs(options, (key) => this.queue.add(key));
    options.endpoints.on({
      add: (ep) => this.writes.observed(ep),
      update: (_old, ep) => this.writes.observed(ep),
      // Someone deleted a Service's Endpoints: write them again.
      delete: (ep) => { if (!this.writes.observedDelete(ep)) this.queue.add(objectKey(ep)); },
    });
  }

  async run(workers = 2): Promise<void> {
    const { services, pods, nodes, endpoints } = this.options;
    await Promise.all([services.waitForSync(), pods.waitForSync(), nodes.waitForSync(), endpoints.waitForSync()]);
    // Endpoints whose Service was deleted while no controller ran (Kubernetes' checkLeftoverEndpoints).
    for (const ep of endpoints.list()) this.queue.add(objectKey(ep));
    await runWorkers(this.queue, workers, (key) => this.sync(key), this.options.logger);
  }

  stop(): void { this.queue.shutDown(); }

  /** Makes one Service's Endpoints match the pods it selects; writes only what changed. */
  async sync(key: string): Promise<SyncResult> {
    const service = this.options.services.get(key);
    const current = this.writes.resolve(key, this.options.endpoints.get(key));
    if (!service) {
      if (current && !current.metadata.annotations?.[leaderElectionAnnotation]) await this.delete(current);
      return {};
    }
    // Without a selector the Endpoints are someone else's (written by hand, or by an operator).
    if (!selectsPods(service)) return {};
    const pods = podsSelectedBy(service, this.options.pods.list());
    const desired = newEndpoints(service, pods, (name) => this.options.nodes.get(name));
    if (current && endpointsEqual(current, desired)) return {};
    await this.write(service, current, desired);
    return {};
  }

  private async write(service: ServiceObject, current: EndpointsObject | undefined, desired: EndpointsObject): Promise<void> {
    const next: EndpointsObject = current
      ? { ...structuredClone(current), subsets: desired.subsets, metadata: { ...structuredClone(current.metadata), labels: desired.metadata.labels, annotations: mergedAnnotations(current, desired) } }
      : desired;
    try {
      const written = current
        ? await this.options.client.update<EndpointsObject>(endpointsResource, next)
        : await this.options.client.create<EndpointsObject>(endpointsResource, service.metadata.namespace, next);
      this.writes.wrote(written);
    } catch (err) {
      if (current && isNotFound(err)) this.writes.forget(objectKey(current)); // deleted meanwhile: create on the retry
      if (!isConflict(err)) {
        const [reason, what] = current ? [reasonFailedToUpdateEndpoint, 'update endpoint'] : [reasonFailedToCreateEndpoint, 'create endpoint for service'];
        this.options.recorder.record(next, 'Warning', reason, `Failed to ${what} ${service.metadata.namespace}/${service.metadata.name}: ${(err as Error).message}`);
      }
      throw err;
    }
  }

  private async delete(ep: EndpointsObject): Promise<void> {
    try {
      await this.options.client.delete(endpointsResource, ep.metadata.namespace, ep.metadata.name!);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.writes.deleted(ep);
  }
}

// ---- pure builders ----

/** The Endpoints a Service should have for these pods (already selected by it). */
export function newEndpoints(service: ServiceObject, pods: PodObject[], nodeOf: (name: string) => NodeObject | undefined): EndpointsObject {
  const publishNotReady = service.spec.publishNotReadyAddresses === true;
  const headlessWithoutPorts = (service.spec.ports ?? []).length === 0 && service.spec.clusterIP === 'None';
  const entries: { address: Address; port?: Port; ready: boolean }[] = [];
  for (const pod of pods) {
    if (!shouldPodBeInEndpoints(pod, publishNotReady)) continue;
    const ip = podIPFor(service, pod);
    if (!ip) continue;
    const address: Address = {
      ip, ...(pod.spec.nodeName && { nodeName: pod.spec.nodeName }),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      ...(shouldSetHostname(pod, service) && { hostname: podHostname(pod) }),
    };
    const ready = publishNotReady || podServing(pod, nodeOf);
    if (headlessWithoutPorts) { entries.push({ address, ready }); continue; }
    for (const servicePort of service.spec.ports ?? []) {
      const port = findPort(pod, servicePort);
      if (port === undefined) continue; // this pod does not offer that port: not an endpoint of it
      entries.push({ address, ready, port: endpointPort(servicePort, port) });
    }
  }
  const { subsets, truncated } = truncateSubsets(repackSubsets(entries));
  const annotations = truncated ? { [annotationEndpointsOverCapacity]: 'truncated' } : undefined;
  return {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { name: service.metadata.name, namespace: service.metadata.namespace, labels: endpointsLabels(service), ...(annotations && { annotations }) },
    subsets,
  };
}

function endpointPort(servicePort: ServicePort, port: number): Port {
  return {
    ...(servicePort.name && { name: servicePort.name }), port, protocol: servicePort.protocol ?? 'TCP',
    ...(servicePort.appProtocol && { appProtocol: servicePort.appProtocol }),
  };
}

/** The Service's labels, plus `service.kubernetes.io/headless` when it has no cluster IP. */
export function endpointsLabels(service: ServiceObject): Record<string, string> {
  const labels: Record<string, string> = { ...service.metadata.labels };
  if (isServiceIPSet(service)) delete labels[labelHeadlessService];
  else labels[labelHeadlessService] = '';
  return labels;
}

const addressKey = (a: Address) => `${a.ip}/${a.targetRef?.uid ?? ''}`;
const compareAddresses = (a: Address, b: Address) => a.ip.localeCompare(b.ip) || (a.targetRef?.uid ?? '').localeCompare(b.targetRef?.uid ?? '');
const portKey = (p: Port | undefined) => (p ? JSON.stringify([p.name ?? '', p.port, p.protocol ?? 'TCP', p.appProtocol ?? '']) : '');

/**
 * Kubernetes' RepackSubsets: one subset per distinct set of addresses (with their readiness),
 * holding every port those addresses share. An address ready on one port and not on another
 * counts as ready on both, as upstream. Sorted, so equal inputs give equal outputs.
 */
export function repackSubsets(entries: { address: Address; port?: Port; ready: boolean }[]): Subset[] {
  const addresses = new Map<string, Address>();
  const byPort = new Map<string, { port?: Port; ready: Map<string, boolean> }>();
  for (const { address, port, ready } of entries) {
    const key = addressKey(address);
    if (!addresses.has(key)) addresses.set(key, address);
    const pk = portKey(port);
    let group = byPort.get(pk);
    if (!group) { group = { ...(port && { port }), ready: new Map() }; byPort.set(pk, group); }
    if (!group.ready.get(key)) group.ready.set(key, ready);
  }
  const bySet = new Map<string, { ready: Map<string, boolean>; ports: Port[] }>();
  for (const { port, ready } of byPort.values()) {
    const signature = JSON.stringify([...ready].sort(([a], [b]) => a.localeCompare(b)));
    let subset = bySet.get(signature);
    if (!subset) { subset = { ready, ports: [] }; bySet.set(signature, subset); }
    if (port) subset.ports.push(port);
  }
  const subsets = [...bySet.values()].map(({ ready, ports }): Subset => {
    const pick = (want: boolean) => [...ready].filter(([, r]) => r === want).map(([k]) => addresses.get(k)!).sort(compareAddresses);
    const [ok, notOk] = [pick(true), pick(false)];
    ports.sort((a, b) => portKey(a).localeCompare(portKey(b)));
    return { ...(ok.length && { addresses: ok }), ...(notOk.length && { notReadyAddresses: notOk }), ...(ports.length && { ports }) };
  });
  const first = (s: Subset) => `${s.addresses?.[0]?.ip ?? s.notReadyAddresses?.[0]?.ip ?? ''}|${portKey(s.ports?.[0])}`;
  return subsets.sort((a, b) => first(a).localeCompare(first(b)));
}

/**
 * Kubernetes' truncateEndpoints: past 1000 addresses, keep ready ones first, each subset cut in
 * proportion to its size.
 */
export function truncateSubsets(subsets: Subset[]): { subsets: Subset[]; truncated: boolean } {
  const ready = subsets.reduce((n, s) => n + (s.addresses?.length ?? 0), 0);
  const notReady = subsets.reduce((n, s) => n + (s.notReadyAddresses?.length ?? 0), 0);
  if (ready + notReady <= maxCapacity) return { subsets, truncated: false };
  const truncateReady = ready > maxCapacity;
  const max = truncateReady ? maxCapacity : maxCapacity - ready;
  const total = truncateReady ? ready : notReady;
  let room = max;
  const out = subsets.map((s) => {
    const list = (truncateReady ? s.addresses : s.notReadyAddresses) ?? [];
    const take = Math.min(Math.ceil((list.length / total) * max), room);
    const kept = list.slice(0, take);
    room -= kept.length;
    const { addresses: _a, notReadyAddresses: _n, ...rest } = s;
    return truncateReady
      ? { ...rest, ...(kept.length && { addresses: kept }) }
      : { ...rest, ...(s.addresses && { addresses: s.addresses }), ...(kept.length && { notReadyAddresses: kept }) };
  });
  return { subsets: out, truncated: true };
}

/** Whether the stored Endpoints already say what `desired` says (subsets, labels, capacity mark). */
export function endpointsEqual(current: EndpointsObject, desired: EndpointsObject): boolean {
  return deepEqual(current.subsets ?? [], desired.subsets ?? []) &&
    deepEqual(current.metadata.labels ?? {}, desired.metadata.labels ?? {}) &&
    (current.metadata.annotations?.[annotationEndpointsOverCapacity] === undefined) === (desired.metadata.annotations?.[annotationEndpointsOverCapacity] === undefined);
}

function mergedAnnotations(current: EndpointsObject, desired: EndpointsObject): Record<string, string> | undefined {
  const annotations = { ...current.metadata.annotations, ...desired.metadata.annotations };
  if (!desired.metadata.annotations?.[annotationEndpointsOverCapacity]) delete annotations[annotationEndpointsOverCapacity];
  return Object.keys(annotations).length ? annotations : undefined;
}

// ---- shared with the EndpointSlice controller ----

/** Whether this controller manages the Service's endpoints: it has a selector and is not ExternalName. */
export function selectsPods(service: ServiceObject): boolean {
  return service.spec.type !== 'ExternalName' && Object.keys(service.spec.selector ?? {}).length > 0;
}

function selects(service: ServiceObject, pod: PodObject): boolean {
  if (service.metadata.namespace !== pod.metadata.namespace || !selectsPods(service)) return false;
  return matches(Object.entries(service.spec.selector!).map(([key, value]) => ({ key, operator: 'In' as const, values: [value] })), pod.metadata.labels);
}

/** The pods of the Service's namespace that its selector matches, by name (a stable order). */
export function podsSelectedBy(service: ServiceObject, pods: PodObject[]): PodObject[] {
  return pods.filter((p) => selects(service, p)).sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

/**
 * Kubernetes' ShouldPodBeInEndpoints: not finished, has an IP, and (unless terminating pods are
 * wanted) not being deleted.
 */
export function shouldPodBeInEndpoints(pod: PodObject, includeTerminating: boolean): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  if (!pod.status?.podIP && !pod.status?.podIPs?.length) return false;
  return includeTerminating || !pod.metadata.deletionTimestamp;
}

export const nodeIsReady = (node: NodeObject | undefined): boolean => findCondition(node?.status?.conditions, 'Ready')?.status === 'True';

/** Ready for traffic: the pod reports Ready (containers running, readiness probe passing) on a Ready node. */
export function podServing(pod: PodObject, nodeOf: (name: string) => NodeObject | undefined): boolean {
  return isPodReady(pod) && pod.spec.nodeName !== undefined && nodeIsReady(nodeOf(pod.spec.nodeName));
}

export const isIPv6 = (ip: string) => ip.includes(':');
export const podIPs = (pod: PodObject): string[] =>
  (pod.status?.podIPs?.length ? pod.status.podIPs.map((p) => p.ip) : pod.status?.podIP ? [pod.status.podIP] : []);

/** The family of a Service's endpoints: its first ipFamily, else its cluster IP's, else IPv4. */
export function serviceIPFamily(service: ServiceObject, pod?: PodObject): 'IPv4' | 'IPv6' {
  const family = service.spec.ipFamilies?.[0];
  if (family) return family;
  if (isServiceIPSet(service)) return isIPv6(service.spec.clusterIP!) ? 'IPv6' : 'IPv4';
  const ip = pod ? podIPs(pod)[0] : undefined;
  return ip && isIPv6(ip) ? 'IPv6' : 'IPv4';
}

/** The pod's IP of the Service's family (Kubernetes' podToEndpointAddressForService). */
export function podIPFor(service: ServiceObject, pod: PodObject): string | undefined {
  const v6 = serviceIPFamily(service, pod) === 'IPv6';
  return podIPs(pod).find((ip) => isIPv6(ip) === v6);
}

/** Kubernetes' IsServiceIPSet: a cluster IP that is neither empty nor `None`. */
export const isServiceIPSet = (service: ServiceObject): boolean => !!service.spec.clusterIP && service.spec.clusterIP !== 'None';

interface PodNaming { hostname?: string; subdomain?: string }
const podHostname = (pod: PodObject) => (pod.spec as PodNaming).hostname ?? '';

/** A pod with a hostname in a subdomain named after the Service gets a DNS name through it. */
export function shouldSetHostname(pod: PodObject, service: ServiceObject): boolean {
  const naming = pod.spec as PodNaming;
  return !!naming.hostname && naming.subdomain === service.metadata.name && pod.metadata.namespace === service.metadata.namespace;
}

/**
 * Kubernetes' FindPort: a numeric targetPort is used as it is; a name is looked up among the
 * pod's container ports of the same protocol. Undefined when the pod has no such port.
 */
export function findPort(pod: PodObject, servicePort: ServicePort): number | undefined {
  const target = servicePort.targetPort ?? servicePort.port; // the API defaults targetPort to port
  if (typeof target === 'number') return target;
  const protocol = servicePort.protocol ?? 'TCP';
  for (const container of pod.spec.containers) {
    const port = container.ports?.find((p) => p.name === target && (p.protocol ?? 'TCP') === protocol);
    if (port) return port.containerPort;
  }
  return undefined;
}

/** What about a pod can change an endpoint: compared before waking the Services that select it. */
function podEndpointState(pod: PodObject): string {
  const naming = pod.spec as PodNaming;
  return JSON.stringify([pod.metadata.labels, pod.status?.podIP, pod.status?.podIPs, isPodReady(pod), pod.metadata.deletionTimestamp,
    pod.spec.nodeName, pod.status?.phase, naming.hostname, naming.subdomain, pod.spec.containers.map((c) => c.ports)]);
}

const nodeEndpointState = (node: NodeObject) => `${nodeIsReady(node)}/${node.metadata.labels?.[labelTopologyZone] ?? ''}`;

export interface EndpointInputs {
  services: InformerLike<ServiceObject>;
  pods: InformerLike<PodObject>;
  nodes: InformerLike<NodeObject>;
}

/**
 * Calls `enqueue(serviceKey)` for every change that can change a Service's endpoints: the Service
 * itself; a pod it selects, before or after the change; a node under one of its pods turning
 * Ready or not Ready (or changing zone).
 */
export function watchEndpointInputs({ services, pods, nodes }: EndpointInputs, enqueue: (serviceKey: string) => void): void {
  const serviceChanged = (service: ServiceObject) => enqueue(objectKey(service));
  services.on({ add: serviceChanged, update: (_old, service) => serviceChanged(service), delete: serviceChanged });
  const servicesOf = (pod: PodObject) => {
    for (const service of services.list()) if (selects(service, pod)) enqueue(objectKey(service));
  };
  pods.on({
    add: servicesOf,
    update: (old, pod) => {
      if (podEndpointState(old) === podEndpointState(pod)) return;
      servicesOf(pod);
      if (!deepEqual(old.metadata.labels, pod.metadata.labels)) servicesOf(old);
    },
    delete: servicesOf,
  });
  const podsOn = (node: NodeObject) => {
    for (const pod of pods.list()) if (pod.spec.nodeName === node.metadata.name) servicesOf(pod);
  };
  nodes.on({
    add: podsOn,
    update: (old, node) => { if (nodeEndpointState(old) !== nodeEndpointState(node)) podsOn(node); },
    delete: podsOn,
  });
}

const version = (obj: KubeObject) => Number(obj.metadata.resourceVersion ?? 0);

/**
 * The objects a controller wrote that its informer has not shown yet. A sync reads the cache
 * through it, so a cache lagging behind the controller's own writes never makes it write the
 * same change twice or create a second object (client-go's EndpointSliceTracker, for any kind).
 */
export class OwnWrites<T extends KubeObject> {
  /** key -> the version written (obj) or deleted (no obj). */
  private readonly pending = new Map<string, { version: number; obj?: T }>();

  wrote(obj: T): void { this.pending.set(objectKey(obj), { version: version(obj), obj }); }
  deleted(obj: T): void { this.pending.set(objectKey(obj), { version: version(obj) }); }
  forget(key: string): void { this.pending.delete(key); }

  /** An informer add/update; true when it only shows this controller's own write. */
  observed(obj: T): boolean {
    const p = this.pending.get(objectKey(obj));
    if (!p?.obj || version(obj) < p.version) return false;
    this.pending.delete(objectKey(obj));
    return version(obj) === p.version;
  }

  /** An informer delete; true when this controller deleted it. */
  observedDelete(obj: T): boolean {
    const p = this.pending.get(objectKey(obj));
    this.pending.delete(objectKey(obj));
    return p !== undefined && !p.obj;
  }

  /** The object as this controller last knows it: its own newer write wins over a stale cache. */
  resolve(key: string, cached: T | undefined): T | undefined {
    const p = this.pending.get(key);
    if (!p) return cached;
    if (!p.obj) return cached && version(cached) > p.version ? cached : undefined;
    if (!cached || version(cached) < p.version) return p.obj;
    return cached;
  }

  /** `cached` seen through the pending writes, plus written objects the cache has not shown at all. */
  overlay(cached: T[], wanted: (obj: T) => boolean): T[] {
    const seen = new Set(cached.map(objectKey));
    const out = cached.map((c) => this.resolve(objectKey(c), c)).filter((o): o is T => o !== undefined && wanted(o));
    for (const [key, p] of this.pending) if (!seen.has(key) && p.obj && wanted(p.obj)) out.push(p.obj);
    return out;
  }
}
