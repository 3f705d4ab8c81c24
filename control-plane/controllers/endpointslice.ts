// The EndpointSlice controller: for every Service with a selector, discovery.k8s.io/v1
// EndpointSlices listing the pods it selects, as Kubernetes' pkg/controller/endpointslice writes
// them (the agents' proxies and DNS read these). Each endpoint carries conditions: `serving` when
// the pod is Ready on a Ready node, `terminating` once it is being deleted, `ready` when serving
// and not terminating. Pods are grouped by the ports they resolve to (a named targetPort may
// resolve differently per pod), at most 100 endpoints a slice. The slices are labelled with the
// Service's name and this controller's, and owned by the Service, so the garbage collector
// deletes them with it.
//
// Like upstream, a sync moves as few endpoints as it can: endpoints stay in the slice they are in;
// new ones fill slices that are being rewritten anyway, then one unchanged slice they fit in, and
// only then new slices. A Service without endpoints keeps one empty placeholder slice, so readers
// can tell "no endpoints" from "not yet processed".
import type { Logger } from 'pino';
import type { Endpoint, EndpointPort, EndpointSlice } from '../api/discovery.ts';
import { isNotFound } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { deepEqual } from '../api/objects.ts';
import { resourceFor } from '../api/resources.ts';
import { endpointSliceControllerName, labelEndpointSliceManagedBy, labelHeadlessService, labelServiceName, labelTopologyZone } from '../api/well-known.ts';
import type { KubeClient } from '../client/client.ts';
import { objectKey } from '../client/informer.ts';
import { WorkQueue } from '../client/workqueue.ts';
import {
  findPort, isIPv6, isServiceIPSet, nodeIsReady, OwnWrites, podIPs, podsSelectedBy, selectsPods, shouldPodBeInEndpoints,
  shouldSetHostname, watchEndpointInputs, type NodeObject, type ServiceObject,
} from './endpoints.ts';
import { controllerRefTo, isPodReady, type InformerLike, type PodObject, type Recorder } from './pod-template.ts';
import { runWorkers, type SyncResult } from './runner.ts';

export const reasonFailedToUpdateEndpointSlices = 'FailedToUpdateEndpointSlices';

export type EndpointSliceObject = EndpointSlice & KubeObject;
type AddressType = 'IPv4' | 'IPv6';

const endpointSlices = resourceFor('discovery.k8s.io', 'endpointslices')!;
// Kubernetes' --max-endpoints-per-slice default: small enough that one pod's change rewrites a small object.
export const defaultMaxEndpointsPerSlice = 100;
// A pod whose Node is not (yet) in the cache is left out; an agent registering shows up within a second.
const missingNodeRecheckMs = 1_000;

export interface EndpointSliceControllerOptions {
  client: Pick<KubeClient, 'create' | 'update' | 'delete'>;
  services: InformerLike<ServiceObject>;
  pods: InformerLike<PodObject>;
  nodes: InformerLike<NodeObject>;
  endpointSlices: InformerLike<EndpointSliceObject>;
  recorder: Recorder;
  maxEndpointsPerSlice?: number;
  logger?: Logger;
}

export class EndpointSliceController {
  readonly queue = new WorkQueue();
  private readonly writes = new OwnWrites<EndpointSliceObject>();
  private readonly maxEndpointsPerSlice: number;

  constructor(private readonly options: EndpointSliceControllerOptions) {
    this.maxEndpointsPerSlice = options.maxEndpointsPerSlice ?? defaultMaxEndpointsPerSlice;
    watchEndpointInputs(options, (key) => this.queue.add(key));
    // A change to one of our slices that we did not make (an edit, a deletion): put it right.
    options.endpointSlices.on({
      add: (slice) => { if (!this.writes.observed(slice)) this.enqueueServiceOf(slice); },
      update: (old, slice) => {
        if (!this.writes.observed(slice)) this.enqueueServiceOf(slice);
        if (old.metadata.labels?.[labelServiceName] !== slice.metadata.labels?.[labelServiceName]) this.enqueueServiceOf(old);
      },
      delete: (slice) => { if (!this.writes.observedDelete(slice)) this.enqueueServiceOf(slice); },
    });
  }

  async run(workers = 2): Promise<void> {
    const { services, pods, nodes } = this.options;
    await Promise.all([services.waitForSync(), pods.waitForSync(), nodes.waitForSync(), this.options.endpointSlices.waitForSync()]);
    await runWorkers(this.queue, workers, (key) => this.sync(key), this.options.logger);
  }

  stop(): void { this.queue.shutDown(); }

  /** Makes one Service's slices list the pods it selects; writes only the slices that change. */
  async sync(key: string): Promise<SyncResult> {
    const service = this.options.services.get(key);
    // A deleted Service's slices are owned by it: the garbage collector removes them.
    if (!service || !selectsPods(service)) return {};
    const pods = podsSelectedBy(service, this.options.pods.list());
    const plan = planSlices({
      service, pods, nodeOf: (name) => this.options.nodes.get(name), existing: this.slicesOf(service),
      maxEndpointsPerSlice: this.maxEndpointsPerSlice,
    });
    try {
      await this.apply(service, plan);
    } catch (err) {
      this.options.recorder.record(service, 'Warning', reasonFailedToUpdateEndpointSlices,
        `Error updating Endpoint Slices for Service ${key}: ${(err as Error).message}`);
      throw err;
    }
    return plan.podsWithoutNode > 0 ? { requeueAfterMs: missingNodeRecheckMs } : {};
  }

  /** Creates first and deletes last, so a Service never has fewer endpoints mid-sync than before it. */
  private async apply(service: ServiceObject, plan: SlicePlan): Promise<void> {
    const { client } = this.options;
    // A Service being deleted gets no new slices: the garbage collector would race with them.
    if (!service.metadata.deletionTimestamp) {
      for (const slice of plan.create) this.writes.wrote(await client.create<EndpointSliceObject>(endpointSlices, service.metadata.namespace, slice));
    }
    for (const slice of plan.update) {
      try {
        this.writes.wrote(await client.update<EndpointSliceObject>(endpointSlices, slice));
      } catch (err) {
        if (isNotFound(err)) this.writes.forget(objectKey(slice)); // gone meanwhile: the retry creates one
        throw err;
      }
    }
    for (const slice of plan.delete) {
      try {
        await client.delete(endpointSlices, slice.metadata.namespace, slice.metadata.name!);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      this.writes.deleted(slice);
    }
  }

  /** The slices this controller keeps for the Service, as far as it knows (cache plus own writes). */
  private slicesOf(service: ServiceObject): EndpointSliceObject[] {
    const mine = (s: EndpointSliceObject) => s.metadata.namespace === service.metadata.namespace &&
      s.metadata.labels?.[labelServiceName] === service.metadata.name && s.metadata.labels?.[labelEndpointSliceManagedBy] === endpointSliceControllerName;
    return this.writes.overlay(this.options.endpointSlices.list().filter(mine), mine);
  }

  private enqueueServiceOf(slice: EndpointSliceObject): void {
    const name = slice.metadata.labels?.[labelServiceName];
    if (name && slice.metadata.labels?.[labelEndpointSliceManagedBy] === endpointSliceControllerName) this.queue.add(`${slice.metadata.namespace}/${name}`);
  }
}

// ---- pure builders ----

export interface SliceInput {
  service: ServiceObject;
  /** The pods the Service selects. */
  pods: PodObject[];
  nodeOf: (name: string) => NodeObject | undefined;
  /** The slices labelled for this Service and managed by this controller. */
  existing: EndpointSliceObject[];
  maxEndpointsPerSlice: number;
}

export interface SlicePlan {
  create: EndpointSliceObject[];
  update: EndpointSliceObject[];
  delete: EndpointSliceObject[];
  /** Pods left out because their Node is not known: worth another look soon. */
  podsWithoutNode: number;
}

/** Kubernetes' reconciler: the slice writes that make `existing` list the Service's pods. */
export function planSlices(input: SliceInput): SlicePlan {
  const { service, existing } = input;
  const plan: SlicePlan = { create: [], update: [], delete: [], podsWithoutNode: 0 };
  const types = addressTypesOf(service);
  const byType = new Map<string, EndpointSliceObject[]>();
  for (const slice of existing) {
    // Slices of a family the Service no longer has, or of an older Service of the same name, go.
    if (!types.includes(slice.addressType as AddressType) || !ownedBy(slice, service)) { plan.delete.push(slice); continue; }
    byType.set(slice.addressType, [...(byType.get(slice.addressType) ?? []), slice]);
  }
  for (const type of types) planAddressType(input, type, byType.get(type) ?? [], plan);
  return plan;
}

interface PortGroup { ports: EndpointPort[]; endpoints: Map<string, Endpoint> }

function planAddressType(input: SliceInput, type: AddressType, existing: EndpointSliceObject[], plan: SlicePlan): void {
  const { service, pods, nodeOf, maxEndpointsPerSlice } = input;
  const publishNotReady = service.spec.publishNotReadyAddresses === true;
  const desired = new Map<string, PortGroup>();
  for (const pod of pods) {
    if (!shouldPodBeInEndpoints(pod, true)) continue;
    const node = pod.spec.nodeName ? nodeOf(pod.spec.nodeName) : undefined;
    if (!node && !publishNotReady) { plan.podsWithoutNode++; continue; }
    const endpoint = podToEndpoint(pod, node, service, type);
    if (!endpoint) continue;
    const ports = endpointPorts(service, pod);
    const key = portMapKey(ports);
    let group = desired.get(key);
    if (!group) { group = { ports, endpoints: new Map() }; desired.set(key, group); }
    group.endpoints.set(endpointKey(endpoint), endpoint);
  }
  const existingByPorts = new Map<string, EndpointSliceObject[]>();
  for (const slice of existing) {
    const key = portMapKey(slice.ports ?? []);
    existingByPorts.set(key, [...(existingByPorts.get(key) ?? []), slice]);
  }
  const labels = sliceLabels(service);
  const create: EndpointSliceObject[] = [];
  const update: EndpointSliceObject[] = [];
  const remove: EndpointSliceObject[] = [];
  for (const [key, group] of desired) {
    const result = planPortGroup(service, type, labels, existingByPorts.get(key) ?? [], group, maxEndpointsPerSlice);
    create.push(...result.create);
    update.push(...result.update);
    remove.push(...result.delete);
  }
  for (const [key, slices] of existingByPorts) if (!desired.has(key)) remove.push(...slices);

  if (existing.length === remove.length && create.length === 0) {
    const placeholder = newSlice(service, type, [], labels);
    if (remove.length === 1 && isSamePlaceholder(remove[0]!, placeholder)) remove.length = 0;
    else create.push(placeholder);
  }
  // A slice about to be deleted is rewritten instead of creating another: one write, not two.
  while (create.length > 0 && remove.length > 0) {
    const reused = remove.pop()!;
    const slice = create.pop()!;
    update.push({ ...structuredClone(reused), metadata: { ...structuredClone(reused.metadata), labels: slice.metadata.labels, ownerReferences: slice.metadata.ownerReferences },
      addressType: slice.addressType, ports: slice.ports, endpoints: slice.endpoints });
  }
  plan.create.push(...create);
  plan.update.push(...update);
  plan.delete.push(...remove);
}

/** Kubernetes' reconcileByPortMapping, for the slices of one set of ports. */
function planPortGroup(service: ServiceObject, type: AddressType, labels: Record<string, string>, existing: EndpointSliceObject[],
  group: PortGroup, max: number): { create: EndpointSliceObject[]; update: EndpointSliceObject[]; delete: EndpointSliceObject[] } {
  const wanted = new Map(group.endpoints);
  const updated = new Map<string, EndpointSliceObject>();
  const unchanged: EndpointSliceObject[] = [];
  const remove: EndpointSliceObject[] = [];
  // 1. Drop endpoints no longer wanted, refresh the ones that changed, where they are.
  for (const slice of existing) {
    const kept: Endpoint[] = [];
    let changed = false;
    for (const endpoint of slice.endpoints) {
      const key = endpointKey(endpoint);
      const want = wanted.get(key);
      if (!want) continue;
      kept.push(want);
      if (!deepEqual(want, endpoint)) changed = true;
      wanted.delete(key);
    }
    const relabel = !deepEqual(slice.metadata.labels ?? {}, labels);
    if (changed || kept.length !== slice.endpoints.length) {
      if (kept.length === 0) remove.push(slice);
      else updated.set(slice.metadata.name!, withEndpoints(slice, kept, labels));
    } else if (relabel) {
      updated.set(slice.metadata.name!, withEndpoints(slice, kept, labels));
    } else {
      unchanged.push(slice);
    }
  }
  // 2. New endpoints fill the slices being rewritten anyway, fullest first.
  const rest = [...wanted.values()];
  for (const slice of [...updated.values()].sort((a, b) => b.endpoints.length - a.endpoints.length)) {
    while (rest.length > 0 && slice.endpoints.length < max) slice.endpoints.push(rest.shift()!);
  }
  // 3. Then one unchanged slice they all fit in (the closest fit), else new slices.
  const create: EndpointSliceObject[] = [];
  while (rest.length > 0) {
    let target = rest.length < max ? sliceToFill(unchanged, rest.length, max) : undefined;
    if (target) {
      unchanged.splice(unchanged.indexOf(target), 1);
      target = withEndpoints(target, [...target.endpoints], labels);
      updated.set(target.metadata.name!, target);
    } else {
      target = newSlice(service, type, group.ports, labels);
      create.push(target);
    }
    while (rest.length > 0 && target.endpoints.length < max) target.endpoints.push(rest.shift()!);
  }
  return { create, update: [...updated.values()], delete: remove };
}

/** Kubernetes' getSliceToFill: the slice that `count` more endpoints fill most exactly. */
function sliceToFill(slices: EndpointSliceObject[], count: number, max: number): EndpointSliceObject | undefined {
  let best: EndpointSliceObject | undefined;
  let bestRoom = max;
  for (const slice of slices) {
    const room = max - (count + slice.endpoints.length);
    if (room >= 0 && room < bestRoom) { best = slice; bestRoom = room; }
  }
  return best;
}

function withEndpoints(slice: EndpointSliceObject, endpoints: Endpoint[], labels: Record<string, string>): EndpointSliceObject {
  return { ...structuredClone(slice), metadata: { ...structuredClone(slice.metadata), labels: { ...labels } }, endpoints };
}

export function newSlice(service: ServiceObject, addressType: AddressType, ports: EndpointPort[], labels: Record<string, string>): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      generateName: `${service.metadata.name}-`, namespace: service.metadata.namespace, labels: { ...labels },
      ownerReferences: [controllerRefTo({ ...service, apiVersion: 'v1', kind: 'Service' })],
    },
    addressType, endpoints: [], ports,
  };
}

function isSamePlaceholder(slice: EndpointSliceObject, placeholder: EndpointSliceObject): boolean {
  return slice.endpoints.length === 0 && (slice.ports ?? []).length === 0 && slice.addressType === placeholder.addressType &&
    deepEqual(slice.metadata.labels ?? {}, placeholder.metadata.labels) && deepEqual(slice.metadata.ownerReferences, placeholder.metadata.ownerReferences);
}

/**
 * The slices' labels: the Service's own (but not the reserved keys), the headless mark when it
 * has no cluster IP, and which Service and controller they belong to.
 */
export function sliceLabels(service: ServiceObject): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(service.metadata.labels ?? {})) {
    if (k !== labelServiceName && k !== labelEndpointSliceManagedBy) labels[k] = v;
  }
  if (isServiceIPSet(service)) delete labels[labelHeadlessService];
  else labels[labelHeadlessService] = '';
  labels[labelServiceName] = service.metadata.name!;
  labels[labelEndpointSliceManagedBy] = endpointSliceControllerName;
  return labels;
}

/** The address families of the Service's slices: its ipFamilies, else its cluster IP's, else IPv4. */
function addressTypesOf(service: ServiceObject): AddressType[] {
  if (service.spec.ipFamilies?.length) return [...new Set(service.spec.ipFamilies)];
  if (isServiceIPSet(service)) return [isIPv6(service.spec.clusterIP!) ? 'IPv6' : 'IPv4'];
  return ['IPv4']; // labkube's pod network is IPv4; upstream would also make an IPv6 placeholder here
}

const ownedBy = (slice: EndpointSliceObject, service: ServiceObject) =>
  (slice.metadata.ownerReferences ?? []).some((r) => r.kind === 'Service' && r.uid === service.metadata.uid && r.controller === true);

/**
 * One pod as an endpoint. `serving` is the pod's readiness, and a pod on a node that is not Ready
 * is not serving: nothing it last reported can be trusted. `ready` is serving and not terminating.
 */
export function podToEndpoint(pod: PodObject, node: NodeObject | undefined, service: ServiceObject, type: AddressType): Endpoint | undefined {
  const address = podIPs(pod).find((ip) => isIPv6(ip) === (type === 'IPv6'));
  if (!address) return undefined;
  const serving = isPodReady(pod) && nodeIsReady(node);
  const terminating = pod.metadata.deletionTimestamp !== undefined;
  const ready = service.spec.publishNotReadyAddresses === true || (serving && !terminating);
  const zone = node?.metadata.labels?.[labelTopologyZone];
  return {
    addresses: [address],
    conditions: { ready, serving, terminating },
    ...(shouldSetHostname(pod, service) && { hostname: (pod.spec as { hostname?: string }).hostname }),
    targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    ...(pod.spec.nodeName && { nodeName: pod.spec.nodeName }),
    ...(zone && { zone }),
  };
}

/** The Service's ports as this pod serves them; a port the pod cannot resolve is left out. */
export function endpointPorts(service: ServiceObject, pod: PodObject): EndpointPort[] {
  const ports: EndpointPort[] = [];
  for (const servicePort of service.spec.ports ?? []) {
    const port = findPort(pod, servicePort);
    if (port === undefined) continue;
    ports.push({ name: servicePort.name ?? '', port, protocol: servicePort.protocol ?? 'TCP', ...(servicePort.appProtocol && { appProtocol: servicePort.appProtocol }) });
  }
  return ports;
}

/** Slices group endpoints by their set of ports; order does not matter. */
function portMapKey(ports: EndpointPort[]): string {
  return JSON.stringify(ports.map((p) => [p.name ?? '', p.port ?? null, p.protocol ?? 'TCP', p.appProtocol ?? null]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
}

/** Which pod an endpoint is: the same pod keeps its place in its slice when its conditions change. */
const endpointKey = (e: Endpoint) => `${e.targetRef?.namespace ?? ''}/${e.targetRef?.name ?? ''}|${[...e.addresses].sort().join(',')}|${e.hostname ?? ''}`;
