// The Service strategy's allocations, as Kubernetes' service REST storage does them: a cluster
// IP from the service CIDR and node ports from the node port range, a client's requested IP or
// port honoured when it is in range and free, both kept across updates that omit them (as
// `kubectl apply` does) and given back when the Service is deleted or changes type.
//
// What is taken is read from the store on every allocation rather than kept in a bitmap: the
// registry is synchronous and single-process, so nothing can be written between the read and
// the write, a restart needs no rebuild, and a rejected or dry-run write cannot leak an address.
// A lab has tens of Services, so the list costs microseconds.
import { InvalidError } from '../api/errors.ts';
import type { ServicePort, ServiceSpec } from '../api/core.ts';
import type { KubeObject, StatusCause } from '../api/meta.ts';
import { cidrContains, formatIPv4, parseCidr, parseIPv4, type Cidr } from '../api/ip.ts';
import type { Store } from '../store/types.ts';

export interface ServiceAllocatorOptions {
  /** Where cluster IPs come from; k3s's default, so a lab looks like a k3s cluster. */
  serviceCidr?: string;
  /** `first-last`, inclusive; Kubernetes' default --service-node-port-range. */
  nodePortRange?: string;
  /** Picks an offset in [0, n); injectable so tests can force collisions. */
  random?: (n: number) => number;
}

export const defaultServiceCidr = '10.43.0.0/16';
export const defaultNodePortRange = '30000-32767';
/** The service prefix in the store: every Service of every namespace. */
const servicesPrefix = '/services/';

type ServiceObject = KubeObject & { spec: ServiceSpec };

const needsClusterIP = (spec: ServiceSpec) => (spec.type ?? 'ClusterIP') !== 'ExternalName';
const needsNodePorts = (spec: ServiceSpec) => spec.type === 'NodePort' || spec.type === 'LoadBalancer';
const sameObject = (a: KubeObject, b: KubeObject) =>
  a.metadata.namespace === b.metadata.namespace && a.metadata.name === b.metadata.name;

export class ServiceAllocator {
  readonly cidr: Cidr;
  readonly nodePorts: { first: number; last: number };
  /** Addresses never handed out at random: .1 is the `kubernetes` Service's, .10 cluster DNS's. */
  private readonly reserved: Set<number>;
  private readonly random: (n: number) => number;

  constructor(private readonly store: Store, options: ServiceAllocatorOptions = {}) {
    const cidrText = options.serviceCidr ?? defaultServiceCidr;
    const cidr = parseCidr(cidrText);
    // A range needs room for the network address, the broadcast address and at least one Service.
    if (!cidr || cidr.size < 4) throw new Error(`invalid service CIDR "${cidrText}"`);
    this.cidr = cidr;
    const rangeText = options.nodePortRange ?? defaultNodePortRange;
    const m = /^(\d+)-(\d+)$/.exec(rangeText);
    const first = Number(m?.[1]);
    const last = Number(m?.[2]);
    if (!m || first < 1 || last > 65535 || first > last) throw new Error(`invalid node port range "${rangeText}"`);
    this.nodePorts = { first, last };
    this.reserved = new Set([cidr.base + 1, cidr.base + 10]);
    this.random = options.random ?? ((n) => Math.floor(Math.random() * n));
  }

  /** The address Kubernetes gives the `kubernetes` Service: the first in the range. */
  get apiServerServiceIP(): string { return formatIPv4(this.cidr.base + 1); }
  /** Where Kubernetes' cluster DNS conventionally lives: the tenth address. */
  get dnsServiceIP(): string { return formatIPv4(this.cidr.base + 10); }

  /**
   * Before validation, on update: keeps what the client left out (cluster IP, node ports) and
   * drops what the new type does not have. `next` has not been validated, so shapes are checked.
   */
  prepareForUpdate(current: KubeObject, next: KubeObject): void {
    const old = current.spec as ServiceSpec | undefined;
    const spec = next.spec as ServiceSpec | undefined;
    if (!old || !spec || typeof spec !== 'object' || Array.isArray(spec)) return;
    if (needsClusterIP(old) && needsClusterIP(spec)) {
      if (spec.clusterIP === undefined || spec.clusterIP === '') spec.clusterIP = old.clusterIP;
      if (spec.clusterIPs === undefined || spec.clusterIPs === null || (Array.isArray(spec.clusterIPs) && spec.clusterIPs.length === 0)) {
        // A client that changed only clusterIP means the list to follow it (Kubernetes' normalizeClusterIPs).
        if (spec.clusterIP === old.clusterIP && old.clusterIPs) spec.clusterIPs = [...old.clusterIPs];
        else if (typeof spec.clusterIP === 'string') spec.clusterIPs = [spec.clusterIP];
      }
    }
    if (!needsClusterIP(spec)) {
      // ExternalName has no cluster IP: moving to it gives the address back.
      if (spec.clusterIP === old.clusterIP) delete spec.clusterIP;
      if (Array.isArray(spec.clusterIPs) && old.clusterIPs && spec.clusterIPs.join() === old.clusterIPs.join()) delete spec.clusterIPs;
    }
    if (needsNodePorts(old) && !needsNodePorts(spec) && spec.externalTrafficPolicy === old.externalTrafficPolicy) {
      delete spec.externalTrafficPolicy;
    }
    if (!Array.isArray(spec.ports)) return;
    if (needsNodePorts(old) && needsNodePorts(spec)) {
      for (const port of spec.ports as Partial<ServicePort>[]) {
        if (!port || typeof port !== 'object' || port.nodePort) continue;
        const match = (old.ports ?? []).find((p) => p.port === port.port && (p.protocol ?? 'TCP') === (port.protocol ?? 'TCP'))
          ?? (old.ports?.length === 1 && spec.ports.length === 1 ? old.ports[0] : undefined);
        if (match?.nodePort) port.nodePort = match.nodePort;
      }
    } else if (needsNodePorts(old) && !needsNodePorts(spec)) {
      // Kubernetes drops node ports when a Service stops being a NodePort Service.
      for (const port of spec.ports as Partial<ServicePort>[]) {
        if (port && typeof port === 'object' && old.ports?.some((p) => p.nodePort === port.nodePort)) delete port.nodePort;
      }
    }
  }

  /**
   * After validation, on create (`current` undefined) and update: fills and checks cluster IPs,
   * IP families and node ports. Throws 422 with a field cause when a requested one is taken.
   */
  allocate(next: KubeObject, current?: KubeObject): void {
    const spec = (next as ServiceObject).spec;
    const old = (current as ServiceObject | undefined)?.spec;
    const name = next.metadata.name ?? '';
    const causes: StatusCause[] = [];
    const invalid = (field: string, message: string) => causes.push({ reason: 'FieldValueInvalid', field, message });
    const others = this.store.list(servicesPrefix).items.filter((s) => !sameObject(s, next)) as ServiceObject[];
    if (needsClusterIP(spec)) this.allocateClusterIP(spec, old, others, invalid);
    else {
      delete spec.clusterIP;
      delete spec.clusterIPs;
      delete spec.ipFamilies;
      delete spec.ipFamilyPolicy;
    }
    if (needsNodePorts(spec)) {
      spec.externalTrafficPolicy ??= 'Cluster';
      this.allocateNodePorts(spec, others, invalid);
    }
    if (causes.length > 0) throw new InvalidError('Service', name, causes);
  }

  private allocateClusterIP(spec: ServiceSpec, old: ServiceSpec | undefined,
    others: ServiceObject[], invalid: (field: string, message: string) => void): void {
    spec.internalTrafficPolicy ??= 'Cluster';
    spec.ipFamilies = ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
    const requested = spec.clusterIP || spec.clusterIPs?.[0] || undefined;
    if (spec.clusterIPs && spec.clusterIPs.length > 1) {
      invalid('spec.clusterIPs', 'Invalid value: labkube serves one IP family: at most one cluster IP');
      return;
    }
    if (old && needsClusterIP(old) && old.clusterIP && requested !== old.clusterIP) {
      invalid('spec.clusterIP', `Invalid value: "${requested ?? ''}": field is immutable`);
      return;
    }
    if (spec.clusterIP && spec.clusterIPs?.[0] && spec.clusterIPs[0] !== spec.clusterIP) {
      invalid('spec.clusterIPs[0]', `Invalid value: "${spec.clusterIPs[0]}": must be the same as \`clusterIP\``);
      return;
    }
    if (requested === 'None') {
      spec.clusterIP = 'None';
      spec.clusterIPs = ['None'];
      return;
    }
    const taken = new Set<number>();
    for (const s of others) {
      const ip = s.spec.clusterIP ? parseIPv4(s.spec.clusterIP) : undefined;
      if (ip !== undefined) taken.add(ip);
    }
    let ip: number | undefined;
    if (requested !== undefined) {
      ip = parseIPv4(requested);
      const field = 'spec.clusterIPs';
      const list = JSON.stringify([requested]);
      if (ip === undefined) { invalid(field, `Invalid value: ${list}: must be a valid IP address (e.g. 10.43.0.15)`); return; }
      const unchanged = old?.clusterIP === requested;
      if (!unchanged && !this.usable(ip)) {
        invalid(field, `Invalid value: ${list}: failed to allocate IP ${requested}: the provided IP (${requested}) is not in the valid range. The range of valid IPs is ${this.cidrText}`);
        return;
      }
      if (!unchanged && taken.has(ip)) {
        invalid(field, `Invalid value: ${list}: failed to allocate IP ${requested}: provided IP is already allocated`);
        return;
      }
    } else {
      ip = this.pick(this.cidr.base + 1, this.cidr.base + this.cidr.size - 2, (n) => taken.has(n) || this.reserved.has(n));
      if (ip === undefined) {
        invalid('spec.clusterIPs', `Invalid value: []: failed to allocate a serviceIP: range is full (${this.cidrText})`);
        return;
      }
    }
    spec.clusterIP = formatIPv4(ip);
    spec.clusterIPs = [spec.clusterIP];
  }

  private allocateNodePorts(spec: ServiceSpec, others: ServiceObject[], invalid: (field: string, message: string) => void): void {
    const taken = new Set<number>();
    for (const s of others) for (const p of s.spec.ports ?? []) if (p.nodePort) taken.add(p.nodePort);
    const ports = spec.ports ?? [];
    // Within one Service, a TCP and a UDP port may share a node port, as in Kubernetes.
    const own = new Map<number, Set<string>>();
    ports.forEach((p, i) => {
      if (!p.nodePort) return;
      const field = `spec.ports[${i}].nodePort`;
      const protocol = p.protocol ?? 'TCP';
      if (p.nodePort < this.nodePorts.first || p.nodePort > this.nodePorts.last) {
        invalid(field, `Invalid value: ${p.nodePort}: provided port is not in the valid range. The range of valid ports is ${this.nodePorts.first}-${this.nodePorts.last}`);
      } else if (taken.has(p.nodePort)) {
        invalid(field, `Invalid value: ${p.nodePort}: provided port is already allocated`);
      } else if (own.get(p.nodePort)?.has(protocol)) {
        invalid(field, `Duplicate value: ${p.nodePort}`);
      }
      own.set(p.nodePort, (own.get(p.nodePort) ?? new Set()).add(protocol));
    });
    for (const p of ports) {
      if (p.nodePort) continue;
      const port = this.pick(this.nodePorts.first, this.nodePorts.last, (n) => taken.has(n) || own.has(n));
      if (port === undefined) {
        invalid(`spec.ports[${ports.indexOf(p)}].nodePort`, 'Invalid value: 0: failed to allocate a nodePort: range is full');
        return;
      }
      p.nodePort = port;
      own.set(port, new Set([p.protocol ?? 'TCP']));
    }
  }

  private get cidrText(): string { return `${formatIPv4(this.cidr.base)}/${this.cidr.bits}`; }

  /** Inside the range, and neither its network nor its broadcast address. */
  private usable(ip: number): boolean {
    return cidrContains(this.cidr, ip) && ip !== this.cidr.base && ip !== this.cidr.base + this.cidr.size - 1;
  }

  /** A free value in [first, last]: a random start, then the next free one, as Kubernetes' bitmap allocator. */
  private pick(first: number, last: number, isTaken: (n: number) => boolean): number | undefined {
    const count = last - first + 1;
    const start = this.random(count);
    for (let i = 0; i < count; i++) {
      const candidate = first + ((start + i) % count);
      if (!isTaken(candidate)) return candidate;
    }
    return undefined;
  }
}
