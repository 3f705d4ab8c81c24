// Service: its name is a DNS label (it becomes `name.namespace.svc`); a port forwards to the same
// port on the pod unless told otherwise. Its cluster IP and node ports are allocated by the
// registry (apiserver/service-allocator.ts), which holds what is taken: server state, as
// Kubernetes keeps it in the service REST storage rather than in the strategy.
import { Service, type ServiceSpec } from '../core.ts';
import { isIPv4 } from '../ip.ts';
import type { KubeObject } from '../meta.ts';
import { labelErrors, nameError, portOrNameError, type Invalid } from './checks.ts';
import { ageCol, col, formatLabels, nameCol, none, wide, type PrinterColumn } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';

function serviceDefaults(obj: KubeObject): void {
  const ports = (obj.spec as { ports?: unknown } | undefined)?.ports;
  for (const p of (Array.isArray(ports) ? ports : []) as { port?: unknown; targetPort?: unknown }[]) {
    // Kubernetes: a Service port forwards to the same port on the pod unless told otherwise.
    if (p && typeof p === 'object' && (p.targetPort === undefined || p.targetPort === 0) && typeof p.port === 'number') p.targetPort = p.port;
  }
}

function serviceErrors(spec: ServiceSpec, invalid: Invalid): void {
  const ports = spec.ports ?? [];
  const type = spec.type ?? 'ClusterIP';
  labelErrors(spec.selector, 'spec.selector', invalid);
  if (type === 'ExternalName') {
    if (!spec.externalName) invalid('spec.externalName', 'Required value', 'FieldValueRequired');
    else {
      const err = nameError(spec.externalName.replace(/\.$/, ''), false);
      if (err) invalid('spec.externalName', `Invalid value: "${spec.externalName}": ${err}`);
    }
  } else if (ports.length === 0 && spec.clusterIP !== 'None') {
    invalid('spec.ports', 'Required value', 'FieldValueRequired');
  }
  const names = new Set<string>();
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (p.name === undefined || p.name === '') {
      if (ports.length > 1) invalid(`${at}.name`, 'Required value', 'FieldValueRequired');
    } else {
      const err = nameError(p.name, true);
      if (err) invalid(`${at}.name`, `Invalid value: "${p.name}": ${err}`);
      if (names.has(p.name)) invalid(`${at}.name`, `Duplicate value: "${p.name}"`, 'FieldValueDuplicate');
      names.add(p.name);
    }
    const key = `${p.protocol ?? 'TCP'}/${p.port}`;
    if (seen.has(key)) invalid(`${at}`, `Duplicate value: {"port":${p.port},"protocol":"${p.protocol ?? 'TCP'}"}`, 'FieldValueDuplicate');
    seen.add(key);
    if (p.targetPort !== undefined && p.targetPort !== 0) {
      const err = portOrNameError(p.targetPort);
      if (err) invalid(`${at}.targetPort`, `Invalid value: ${JSON.stringify(p.targetPort)}: ${err}`);
    }
    if (p.nodePort && type !== 'NodePort' && type !== 'LoadBalancer') {
      invalid(`${at}.nodePort`, `Forbidden: may not be used when \`type\` is '${type}'`, 'FieldValueForbidden');
    }
  });
  (spec.externalIPs ?? []).forEach((ip, i) => {
    if (!isIPv4(ip)) invalid(`spec.externalIPs[${i}]`, `Invalid value: "${ip}": must be a valid IP address`);
  });
  if (spec.externalTrafficPolicy !== undefined && type !== 'NodePort' && type !== 'LoadBalancer') {
    invalid('spec.externalTrafficPolicy', `Invalid value: "${spec.externalTrafficPolicy}": may only be set when \`type\` is 'NodePort' or 'LoadBalancer'`);
  }
}

interface ServiceView {
  spec?: {
    type?: string; clusterIP?: string; clusterIPs?: string[]; externalIPs?: string[]; externalName?: string;
    selector?: Record<string, string>; ports?: { port: number; nodePort?: number; protocol?: string }[];
  };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}
const service = (o: KubeObject) => o as unknown as ServiceView;

/** kubectl's getServiceExternalIP (server-side Tables are always wide: no truncation). */
function serviceExternalIP(o: KubeObject): string {
  const spec = service(o).spec ?? {};
  const external = spec.externalIPs ?? [];
  switch (spec.type ?? 'ClusterIP') {
    case 'ClusterIP': case 'NodePort':
      return external.length ? external.join(',') : '<none>';
    case 'LoadBalancer': {
      const ingress = [...new Set((service(o).status?.loadBalancer?.ingress ?? []).map((i) => i.ip || i.hostname).filter((v): v is string => !!v))].sort();
      const all = [...ingress, ...external];
      return all.length ? all.join(',') : '<pending>';
    }
    case 'ExternalName': return spec.externalName ?? '';
    default: return '<unknown>';
  }
}

/** `80/TCP,443:30443/TCP`, as kubectl's makePortString. */
export const servicePorts = (o: KubeObject): string =>
  (service(o).spec?.ports ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');

const serviceColumns: PrinterColumn[] = [
  nameCol,
  col('Type', (o) => service(o).spec?.type ?? 'ClusterIP', { description: 'type determines how the Service is exposed.' }),
  // kubectl prints the first of clusterIPs; a Service stored before clusterIPs existed has only clusterIP.
  col('Cluster-IP', (o) => service(o).spec?.clusterIPs?.[0] ?? none(service(o).spec?.clusterIP), { description: 'clusterIP is the IP address of the service.' }),
  col('External-IP', serviceExternalIP, { description: 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.' }),
  col('Port(s)', (o) => none(servicePorts(o)), { description: 'The list of ports that are exposed by this service.' }),
  ageCol,
  wide('Selector', (o) => formatLabels(service(o).spec?.selector)),
];

export const serviceStrategy: KindStrategy = {
  resource: resource({ group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], categories: ['all'], schema: Service, subresources: ['status'] }),
  nameIsDnsLabel: true,
  columns: serviceColumns,
  defaults: serviceDefaults,
  validate: (obj, invalid) => serviceErrors(obj.spec as ServiceSpec, invalid),
};
