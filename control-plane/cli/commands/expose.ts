// `labctl expose TYPE NAME [--port=P] [--target-port=T] [--type=NodePort] [--name=N]`: a Service
// for a deployment, replica set, pod or service, built as kubectl expose builds it. The selector
// and labels are the object's; without --port, the ports are the ones its containers declare.
import type { Command } from 'commander';
import type { ServicePort } from '../../api/core.ts';
import type { LabelSelector, KubeObject } from '../../api/meta.ts';
import { resourceFor } from '../../api/resources.ts';
import { targets, UsageError } from '../context.ts';
import type { Runner } from '../main.ts';
import { objectRef } from '../print.ts';

const services = resourceFor('', 'services')!;
const exposable = ['Deployment', 'ReplicaSet', 'Pod', 'Service'];

export interface ExposeOptions {
  port?: string; targetPort?: string; type?: string; name?: string; protocol?: string;
  selector?: string; labels?: string; clusterIp?: string;
}

interface ContainerPorts { containers?: { ports?: { containerPort: number; protocol?: string }[] }[] }

/** `a=b,c=d` (the only selector form a Service has) to a map. */
function parseMap(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=!\s]+)=([^=,\s]*)$/.exec(part);
    if (!m) throw new UsageError(`invalid ${what} "${text}": want key=value[,key=value]`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** The object's selector as a map, as kubectl's MapBasedSelectorForObject. */
function selectorOf(obj: KubeObject): Record<string, string> {
  if (obj.kind === 'Pod' || obj.kind === 'Service') {
    const labels = obj.kind === 'Pod' ? obj.metadata.labels : (obj.spec as { selector?: Record<string, string> }).selector;
    if (!labels || Object.keys(labels).length === 0) throw new UsageError(`couldn't retrieve selectors via --selector flag or introspection: the ${obj.kind.toLowerCase()} has no labels`);
    return { ...labels };
  }
  const selector = (obj.spec as { selector?: LabelSelector }).selector;
  if (selector?.matchExpressions?.length) {
    throw new UsageError(`couldn't convert expressions - "${JSON.stringify(selector.matchExpressions)}" to map-based selector format`);
  }
  if (!selector?.matchLabels || Object.keys(selector.matchLabels).length === 0) {
    throw new UsageError(`couldn't retrieve selectors via --selector flag or introspection: the ${obj.kind.toLowerCase()} has no selector`);
  }
  return { ...selector.matchLabels };
}

/** The ports the object serves (kubectl's PortsForObject and ProtocolsForObject). */
function portsOf(obj: KubeObject): { port: number; protocol: string }[] {
  if (obj.kind === 'Service') {
    return ((obj.spec as { ports?: ServicePort[] }).ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' }));
  }
  const podSpec = obj.kind === 'Pod' ? obj.spec as ContainerPorts : (obj.spec as { template?: { spec?: ContainerPorts } }).template?.spec;
  return (podSpec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => ({ port: p.containerPort, protocol: p.protocol ?? 'TCP' })));
}

/** The Service kubectl expose would create for `obj`. */
export function newService(obj: KubeObject, options: ExposeOptions): KubeObject {
  if (!exposable.includes(obj.kind)) throw new UsageError(`cannot expose a ${obj.kind}`);
  const selector = options.selector ? parseMap(options.selector, 'selector') : selectorOf(obj);
  let ports: { port: number; protocol: string }[];
  if (options.port !== undefined) {
    if (!/^\d+$/.test(options.port) || Number(options.port) < 1 || Number(options.port) > 65535) throw new UsageError(`--port must be a port number, got "${options.port}"`);
    const introspected = portsOf(obj).find((p) => p.port === Number(options.port));
    ports = [{ port: Number(options.port), protocol: options.protocol ?? introspected?.protocol ?? 'TCP' }];
  } else {
    ports = portsOf(obj).map((p) => ({ ...p, protocol: options.protocol ?? p.protocol }));
    if (ports.length === 0) throw new UsageError("couldn't find port via --port flag or introspection");
  }
  // One target port for every port, by number or by container port name; else the port itself.
  const target = options.targetPort === undefined ? undefined : /^\d+$/.test(options.targetPort) ? Number(options.targetPort) : options.targetPort;
  const servicePorts = ports.map((p, i) => ({
    ...(ports.length > 1 && { name: `port-${i + 1}` }), port: p.port, protocol: p.protocol, targetPort: target ?? p.port,
  }));
  const labels = options.labels ? parseMap(options.labels, 'labels') : obj.metadata.labels;
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: options.name ?? obj.metadata.name, ...(labels && Object.keys(labels).length && { labels: { ...labels } }) },
    spec: {
      ports: servicePorts, selector,
      ...(options.type && { type: options.type }),
      ...(options.clusterIp && { clusterIP: options.clusterIp }),
    },
  };
}

export function registerExpose(program: Command, run: Runner): void {
  program.command('expose')
    .description('expose a deployment, replica set, pod or service as a new Service')
    .argument('<args...>', 'TYPE NAME or TYPE/NAME')
    .option('--port <port>', 'the port the service serves on (default: the ports the containers declare)')
    .option('--target-port <port>', 'the number or name of the port on the pods (default: --port)')
    .option('--type <type>', 'ClusterIP, NodePort, LoadBalancer or ExternalName (default ClusterIP)')
    .option('--name <name>', 'the name of the Service (default: the object\'s)')
    .option('--protocol <protocol>', 'TCP, UDP or SCTP (default: the container port\'s, else TCP)')
    .option('--selector <selector>', 'key=value,... pods to select, instead of the object\'s selector')
    .option('-l, --labels <labels>', 'key=value,... labels of the Service, instead of the object\'s')
    .option('--cluster-ip <ip>', 'a cluster IP to ask for, or None for a headless Service')
    .action((args: string[], opts: ExposeOptions) => run(async (ctx) => {
      const [{ resource: r, names } = { resource: undefined, names: [] }] = targets(args);
      if (!r || !exposable.includes(r.kind)) throw new UsageError(`cannot expose ${args[0]}: expose works on deployments, replicasets, pods and services`);
      if (names.length !== 1) throw new UsageError('give the name of one object to expose');
      const obj = await ctx.client.get(r, ctx.namespace, names[0]!);
      const created = await ctx.client.create(services, ctx.namespace, newService({ ...obj, kind: obj.kind ?? r.kind }, opts));
      ctx.print(`${objectRef(services, created.metadata.name!)} exposed`);
    }));
}
