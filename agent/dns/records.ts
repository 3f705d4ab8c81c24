// The names cluster DNS answers, built from Services and EndpointSlices as Kubernetes' DNS
// specification (github.com/kubernetes/dns, docs/specification.md) lays them out:
//   <svc>.<ns>.svc.<domain>            A: the ClusterIP; for a headless Service, each ready endpoint
//   <hostname>.<svc>.<ns>.svc.<domain> A: a headless Service's endpoint that has a hostname
//   _<port>._<proto>.<svc>.<ns>.svc.<domain>  SRV, for each named port
//   <a-b-c-d>.<ns>.pod.<domain>        A: a-b-c-d as an address (CoreDNS's "pods insecure")
//   <svc>.<ns>.svc.<domain>            CNAME: an ExternalName Service's spec.externalName
//   PTR for each ClusterIP, to its Service's name.
import type { Service } from '../../control-plane/api/core.ts';
import { isIPv4, slicesByService, type EndpointSliceLike } from '../proxy/endpoints.ts';

export interface SrvRecord { port: number; target: string; priority: number; weight: number }

export interface NameRecords { a: string[]; srv: SrvRecord[]; cname?: string }

export interface DnsRecords {
  /** Records of a name (lower case, no trailing dot). */
  names: Map<string, NameRecords>;
  /** `d.c.b.a.in-addr.arpa` of each ClusterIP, to the Service's name. */
  ptr: Map<string, string>;
}

/**
 * The ready addresses of a Service's slices, with their hostnames; an unset `ready` counts as
 * ready. With publishNotReadyAddresses (peers of a StatefulSet finding each other) all count.
 */
function readyAddresses(slices: readonly EndpointSliceLike[], all: boolean): { ip: string; hostname?: string }[] {
  const seen = new Map<string, { ip: string; hostname?: string }>();
  for (const slice of slices) {
    for (const ep of slice.endpoints ?? []) {
      if (!all && !(ep.conditions?.ready ?? true)) continue;
      for (const ip of ep.addresses) if (isIPv4(ip) && !seen.has(ip)) seen.set(ip, { ip, hostname: ep.hostname });
    }
  }
  return [...seen.values()];
}

export const reverseName = (ip: string) => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;

export function buildRecords(services: readonly Service[], endpointSlices: readonly EndpointSliceLike[], domain: string): DnsRecords {
  const names = new Map<string, NameRecords>();
  const ptr = new Map<string, string>();
  const bySvc = slicesByService(endpointSlices);
  const add = (name: string) => {
    let r = names.get(name);
    if (!r) names.set(name, (r = { a: [], srv: [] }));
    return r;
  };
  for (const svc of services) {
    const ns = (svc.metadata.namespace ?? 'default').toLowerCase();
    const svcName = `${svc.metadata.name!.toLowerCase()}.${ns}.svc.${domain}`;
    if (svc.spec.type === 'ExternalName') {
      if (svc.spec.externalName) names.set(svcName, { a: [], srv: [], cname: svc.spec.externalName.toLowerCase().replace(/\.$/, '') });
      continue;
    }
    const headless = svc.spec.clusterIP === 'None';
    // No address yet: the name appears once the API server allocated one.
    if (!headless && !isIPv4(svc.spec.clusterIP)) continue;
    const records = add(svcName);
    // What a named port's SRV records point at: the Service's name, or each endpoint's own.
    const targets: string[] = [];
    if (headless) {
      for (const { ip, hostname } of readyAddresses(bySvc.get(`${svc.metadata.namespace ?? 'default'}/${svc.metadata.name}`) ?? [], !!svc.spec.publishNotReadyAddresses)) {
        records.a.push(ip);
        // Each endpoint is an SRV target by its hostname, or by its address with dashes, as CoreDNS names them.
        const target = `${(hostname ?? ip.replace(/\./g, '-')).toLowerCase()}.${svcName}`;
        add(target).a.push(ip);
        targets.push(target);
      }
    } else {
      records.a.push(svc.spec.clusterIP!);
      ptr.set(reverseName(svc.spec.clusterIP!), svcName);
      targets.push(svcName);
    }
    for (const p of svc.spec.ports ?? []) {
      if (!p.name) continue;
      const srvName = `_${p.name.toLowerCase()}._${(p.protocol ?? 'TCP').toLowerCase()}.${svcName}`;
      add(srvName).srv.push(...targets.map((target) => ({ port: p.port, target, priority: 0, weight: Math.floor(100 / targets.length) })));
    }
  }
  return { names, ptr };
}

/** The address a `<a-b-c-d>.<ns>.pod.<domain>` name spells, if it is one. */
export function podAddress(name: string, domain: string): string | undefined {
  const m = /^(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})\.[a-z0-9-]+\.pod\.(.+)$/.exec(name);
  if (!m || m[5] !== domain) return undefined;
  const ip = m.slice(1, 5).join('.');
  return isIPv4(ip) ? ip : undefined;
}
