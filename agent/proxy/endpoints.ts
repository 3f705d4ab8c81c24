// From Services and EndpointSlices to what the node proxy serves: one entry per Service port,
// with the endpoints to send its connections to, chosen as kube-proxy chooses them: the ready
// endpoints; when none is ready, the ones still serving while they terminate (KEP-1669), so a
// rolling update whose last old pod is draining does not refuse connections.
import type { Service } from '../../control-plane/api/core.ts';

/** The label an EndpointSlice carries to name its Service (discovery.k8s.io/v1). */
export const labelServiceName = 'kubernetes.io/service-name';

/**
 * The fields of a discovery.k8s.io/v1 EndpointSlice the agent reads. Structural, so the API
 * type (control-plane/api/discovery.ts) is accepted as it is.
 */
export interface EndpointSliceLike {
  metadata: { name?: string; namespace?: string; labels?: Record<string, string> };
  addressType?: string;
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    hostname?: string;
    nodeName?: string;
  }[];
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface Endpoint {
  ip: string;
  port: number;
  nodeName?: string;
  /** `ip:port`: the identity the proxy marks dead or alive. */
  key: string;
}

/** One port of one Service, as the proxy serves it. */
export interface ServicePortPlan {
  /** `namespace/name:portName/protocol`: stable across updates, names the listener. */
  key: string;
  namespace: string;
  name: string;
  portName: string;
  protocol: Protocol;
  port: number;
  /** Undefined for headless Services and before the API server allocated one. */
  clusterIP?: string;
  nodePort?: number;
  endpoints: Endpoint[];
}

const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
export const isIPv4 = (s: string | undefined): s is string =>
  !!s && ipv4.test(s) && s.split('.').every((o) => Number(o) <= 255);

export const endpointKey = (ip: string, port: number) => `${ip}:${port}`;

/** The slices of each Service, by `namespace/name`. */
export function slicesByService(slices: readonly EndpointSliceLike[]): Map<string, EndpointSliceLike[]> {
  const out = new Map<string, EndpointSliceLike[]>();
  for (const slice of slices) {
    const service = slice.metadata.labels?.[labelServiceName];
    if (!service || (slice.addressType && slice.addressType !== 'IPv4')) continue;
    const key = `${slice.metadata.namespace ?? 'default'}/${service}`;
    const list = out.get(key);
    if (list) list.push(slice); else out.set(key, [slice]);
  }
  return out;
}

/**
 * The endpoints of one Service port across its slices. An unset `ready` counts as ready and an
 * unset `serving` as `ready`, as the API documents; duplicates across slices (a pod moving from
 * one slice to another) appear once.
 */
export function endpointsForPort(slices: readonly EndpointSliceLike[], portName: string, protocol: Protocol): Endpoint[] {
  const ready = new Map<string, Endpoint>();
  const terminating = new Map<string, Endpoint>();
  for (const slice of slices) {
    const port = slice.ports?.find((p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === protocol);
    if (!port?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const isReady = ep.conditions?.ready ?? true;
      const isServing = ep.conditions?.serving ?? isReady;
      const isTerminating = ep.conditions?.terminating ?? false;
      const into = isReady ? ready : isServing && isTerminating ? terminating : undefined;
      if (!into) continue;
      for (const ip of ep.addresses) {
        if (!isIPv4(ip)) continue;
        const key = endpointKey(ip, port.port);
        if (!into.has(key)) into.set(key, { ip, port: port.port, nodeName: ep.nodeName, key });
      }
    }
  }
  return [...(ready.size > 0 ? ready : terminating).values()];
}

/** Every Service port the proxy should serve, with its endpoints. ExternalName Services have none. */
export function planServicePorts(services: readonly Service[], slices: readonly EndpointSliceLike[]): ServicePortPlan[] {
  const bySvc = slicesByService(slices);
  const plans: ServicePortPlan[] = [];
  for (const svc of services) {
    if (svc.spec.type === 'ExternalName') continue;
    const namespace = svc.metadata.namespace ?? 'default';
    const name = svc.metadata.name!;
    const svcSlices = bySvc.get(`${namespace}/${name}`) ?? [];
    const clusterIP = isIPv4(svc.spec.clusterIP) ? svc.spec.clusterIP : undefined;
    for (const p of svc.spec.ports ?? []) {
      const protocol = (p.protocol ?? 'TCP') as Protocol;
      const portName = p.name ?? '';
      plans.push({
        key: `${namespace}/${name}:${portName}/${protocol}`,
        namespace, name, portName, protocol, port: p.port, clusterIP,
        nodePort: svc.spec.type === 'NodePort' || svc.spec.type === 'LoadBalancer' ? p.nodePort || undefined : undefined,
        endpoints: endpointsForPort(svcSlices, portName, protocol),
      });
    }
  }
  return plans;
}

/**
 * Round robin over a Service port's endpoints. `order` gives the whole list for one connection,
 * to try in turn: the live endpoints from the next in the rotation, then the ones marked dead as a
 * last resort (a dead mark may be stale; trying costs a connect timeout, failing costs a request).
 */
export class EndpointPicker {
  private cursor = 0;
  private list: Endpoint[] = [];

  constructor(endpoints: Endpoint[] = []) { this.set(endpoints); }

  set(endpoints: Endpoint[]): void {
    this.list = endpoints;
    if (this.cursor >= endpoints.length) this.cursor = 0;
  }

  get endpoints(): readonly Endpoint[] { return this.list; }

  order(isDead: (key: string) => boolean): Endpoint[] {
    const n = this.list.length;
    if (n === 0) return [];
    const start = this.cursor;
    this.cursor = (this.cursor + 1) % n;
    const live: Endpoint[] = [];
    const dead: Endpoint[] = [];
    for (let i = 0; i < n; i++) {
      const ep = this.list[(start + i) % n]!;
      (isDead(ep.key) ? dead : live).push(ep);
    }
    return live.concat(dead);
  }
}
