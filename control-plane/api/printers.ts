// The columns `kubectl get` shows for each kind, and how each cell is computed from an object
// (Kubernetes' pkg/printers/internalversion). Written once: the API server's Table responses
// (what stock kubectl prints) and labctl's own tables both use these.
import type { KubeObject } from './meta.ts';
import type { Condition } from './meta.ts';
import { formatSelector, fromLabelSelector } from './labels.ts';

export interface PrinterColumn {
  /** As Kubernetes names it ("Nominated Node"); printers upper-case it for the header. */
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: '' | 'name' | 'date';
  /** 0: always shown; 1: only with `-o wide`. */
  priority: 0 | 1;
  description: string;
  cell: (obj: KubeObject, now: number) => string | number;
}

const col = (name: string, cell: PrinterColumn['cell'], options: Partial<Omit<PrinterColumn, 'name' | 'cell'>> = {}): PrinterColumn =>
  ({ name, type: 'string', format: '', priority: 0, description: name, cell, ...options });
const wide = (name: string, cell: PrinterColumn['cell']) => col(name, cell, { priority: 1 });

/** Kubernetes' HumanDuration: 45s, 3m20s, 12m, 5h30m, 12h, 3d4h, 30d, 2y100d. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const with2 = (big: number, bigUnit: string, small: number, smallUnit: string) => (small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit}${small}${smallUnit}`);
  if (minutes < 10) return with2(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return with2(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return with2(days, 'd', hours % 24, 'h');
  if (hours < 24 * 365 * 2) return `${days}d`;
  if (hours < 24 * 365 * 8) return with2(Math.floor(days / 365), 'y', days % 365, 'd');
  return `${Math.floor(days / 365)}y`;
}

/** The time since a timestamp as kubectl prints it; `<unknown>` when there is none. */
export function age(since: string | null | undefined, now = Date.now()): string {
  if (!since) return '<unknown>';
  return humanDuration(now - Date.parse(since));
}

const none = (v: string | undefined | null) => (v === undefined || v === null || v === '' ? '<none>' : v);
const nameCol = col('Name', (o) => o.metadata.name ?? '', { format: 'name', description: 'Name must be unique within a namespace.' });
const ageCol = col('Age', (o, now) => age(o.metadata.creationTimestamp, now), { description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' });

// ---- Pod -------------------------------------------------------------------------------------

interface ContainerStateView {
  waiting?: { reason?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode: number; signal?: number; reason?: string; finishedAt?: string };
}
interface PodView {
  metadata: KubeObject['metadata'];
  spec?: { containers?: { name: string; image?: string }[]; nodeName?: string };
  status?: {
    phase?: string; reason?: string; podIP?: string; conditions?: Condition[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number; state?: ContainerStateView; lastState?: ContainerStateView }[];
  };
}

export interface PodSummary { ready: string; status: string; restarts: number; lastRestart?: string }

/** READY, STATUS and RESTARTS of a pod, by kubectl's rules (printPod). */
export function podSummary(obj: KubeObject): PodSummary {
  const pod = obj as unknown as PodView;
  const total = pod.spec?.containers?.length ?? 0;
  const status = pod.status ?? {};
  let reason = status.reason || status.phase || 'Pending';
  let readyCount = 0;
  let restarts = 0;
  let hasRunning = false;
  let lastRestart: string | undefined;
  const statuses = status.containerStatuses ?? [];
  for (let i = statuses.length - 1; i >= 0; i--) {
    const c = statuses[i]!;
    restarts += c.restartCount ?? 0;
    const finished = c.lastState?.terminated?.finishedAt;
    if (finished && (!lastRestart || finished > lastRestart)) lastRestart = finished;
    const state = c.state ?? {};
    if (state.waiting?.reason) reason = state.waiting.reason;
    else if (state.terminated?.reason) reason = state.terminated.reason;
    else if (state.terminated) reason = state.terminated.signal ? `Signal:${state.terminated.signal}` : `ExitCode:${state.terminated.exitCode}`;
    else if (c.ready && state.running) { hasRunning = true; readyCount++; }
  }
  if (reason === 'Completed' && hasRunning) {
    reason = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady';
  }
  const terminal = status.phase === 'Succeeded' || status.phase === 'Failed';
  if (pod.metadata.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata.deletionTimestamp && !terminal) reason = 'Terminating';
  return { ready: `${readyCount}/${total}`, status: reason, restarts, ...(lastRestart && { lastRestart }) };
}

const podColumns: PrinterColumn[] = [
  nameCol,
  col('Ready', (o) => podSummary(o).ready, { description: 'The aggregate readiness state of this pod for accepting traffic.' }),
  col('Status', (o) => podSummary(o).status, { description: 'The aggregate status of the containers in this pod.' }),
  col('Restarts', (o, now) => {
    const s = podSummary(o);
    return s.lastRestart ? `${s.restarts} (${age(s.lastRestart, now)} ago)` : String(s.restarts);
  }, { description: 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.' }),
  ageCol,
  wide('IP', (o) => none((o.status as PodView['status'])?.podIP)),
  wide('Node', (o) => none((o.spec as PodView['spec'])?.nodeName)),
  wide('Nominated Node', () => '<none>'),
  wide('Readiness Gates', () => '<none>'),
];

// ---- Node ------------------------------------------------------------------------------------

interface NodeView {
  spec?: { unschedulable?: boolean };
  status?: {
    conditions?: Condition[]; addresses?: { type: string; address: string }[];
    nodeInfo?: { kubeletVersion?: string; osImage?: string; kernelVersion?: string; containerRuntimeVersion?: string };
  };
}

/** Ready, NotReady or Unknown, plus SchedulingDisabled when cordoned: `Ready,SchedulingDisabled`. */
export function nodeStatus(obj: KubeObject): string {
  const node = obj as unknown as NodeView;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const parts = [!ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'NotReady' : 'Unknown'];
  if (node.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

export function nodeRoles(obj: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

const address = (o: KubeObject, type: string) => none((o as unknown as NodeView).status?.addresses?.find((a) => a.type === type)?.address);
const nodeInfo = (o: KubeObject) => (o as unknown as NodeView).status?.nodeInfo ?? {};

const nodeColumns: PrinterColumn[] = [
  nameCol,
  col('Status', nodeStatus, { description: 'The status of the node' }),
  col('Roles', nodeRoles, { description: 'The roles of the node' }),
  ageCol,
  col('Version', (o) => nodeInfo(o).kubeletVersion ?? '', { description: 'Kubelet Version reported by the node.' }),
  wide('Internal-IP', (o) => address(o, 'InternalIP')),
  wide('External-IP', (o) => address(o, 'ExternalIP')),
  wide('OS-Image', (o) => nodeInfo(o).osImage ?? '<unknown>'),
  wide('Kernel-Version', (o) => nodeInfo(o).kernelVersion ?? '<unknown>'),
  wide('Container-Runtime', (o) => nodeInfo(o).containerRuntimeVersion ?? '<unknown>'),
];

// ---- Deployment, ReplicaSet ------------------------------------------------------------------

interface WorkloadView {
  spec?: { replicas?: number; selector?: Parameters<typeof fromLabelSelector>[0]; template?: { spec?: { containers?: { name: string; image?: string }[] } } };
  status?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
}
const workload = (o: KubeObject) => o as unknown as WorkloadView;
const containerNames = (o: KubeObject) => none(workload(o).spec?.template?.spec?.containers?.map((c) => c.name).join(','));
const containerImages = (o: KubeObject) => none(workload(o).spec?.template?.spec?.containers?.map((c) => c.image ?? '').join(','));
const selector = (o: KubeObject) => none(formatSelector(fromLabelSelector(workload(o).spec?.selector)));
const desired = (o: KubeObject) => workload(o).spec?.replicas ?? 1;

const deploymentColumns: PrinterColumn[] = [
  nameCol,
  col('Ready', (o) => `${workload(o).status?.readyReplicas ?? 0}/${desired(o)}`, { description: 'Number of the pod with ready state' }),
  col('Up-to-date', (o) => workload(o).status?.updatedReplicas ?? 0, { type: 'integer', description: 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.' }),
  col('Available', (o) => workload(o).status?.availableReplicas ?? 0, { type: 'integer', description: 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.' }),
  ageCol,
  wide('Containers', containerNames),
  wide('Images', containerImages),
  wide('Selector', selector),
];

const replicaSetColumns: PrinterColumn[] = [
  nameCol,
  col('Desired', desired, { type: 'integer', description: 'Number of desired pods.' }),
  col('Current', (o) => workload(o).status?.replicas ?? 0, { type: 'integer', description: 'Number of actual replicas.' }),
  col('Ready', (o) => workload(o).status?.readyReplicas ?? 0, { type: 'integer', description: 'The number of ready replicas for this replica set.' }),
  ageCol,
  wide('Containers', containerNames),
  wide('Images', containerImages),
  wide('Selector', selector),
];

// ---- Service, Endpoints, EndpointSlice -------------------------------------------------------

interface ServiceView {
  spec?: {
    type?: string; clusterIP?: string; clusterIPs?: string[]; externalIPs?: string[]; externalName?: string;
    selector?: Record<string, string>; ports?: { port: number; nodePort?: number; protocol?: string }[];
  };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}
const service = (o: KubeObject) => o as unknown as ServiceView;

/** Kubernetes' labels.FormatLabels: `a=1,b=2` sorted by key, `<none>` when empty. */
export function formatLabels(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  return keys.length ? keys.map((k) => `${k}=${m![k]}`).join(',') : '<none>';
}

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

/** `ip:port` with IPv6 in brackets, as Go's net.JoinHostPort. */
export const joinHostPort = (ip: string, port: number | string) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** kubectl's listWithMoreString: the first three, then ` + N more...`. */
function listWithMore(list: string[], count: number, max: number, empty: string): string {
  const text = list.join(',');
  if (count > max) return `${text} + ${count - max} more...`;
  return text === '' ? empty : text;
}

interface EndpointsView { subsets?: { addresses?: { ip: string }[]; ports?: { name?: string; port: number }[] }[] }

/**
 * The ready `ip:port`s of an Endpoints object as kubectl's formatEndpoints: at most three, then
 * `+ N more...`; `<none>` without subsets, and empty when every address is not ready.
 */
export function formatEndpoints(o: KubeObject): string {
  const subsets = (o as unknown as EndpointsView).subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const list: string[] = [];
  let count = 0;
  for (const subset of subsets) {
    const addresses = subset.addresses ?? [];
    // A headless Service may have no ports: its addresses alone.
    const targets = subset.ports?.length ? subset.ports.flatMap((p) => addresses.map((a) => joinHostPort(a.ip, p.port))) : addresses.map((a) => a.ip);
    count += targets.length;
    list.push(...targets.slice(0, Math.max(0, max - list.length)));
  }
  return listWithMore(list, count, max, '');
}

const endpointsColumns: PrinterColumn[] = [nameCol, col('Endpoints', formatEndpoints, { description: 'The set of all endpoints is the union of all subsets.' }), ageCol];

interface EndpointSliceView {
  addressType?: string;
  ports?: { name?: string; port?: number }[] | null;
  endpoints?: { addresses?: string[] }[];
}
const slice = (o: KubeObject) => o as unknown as EndpointSliceView;

/** kubectl's formatDiscoveryPorts: port numbers (or names), three at most; `<unset>` without ports. */
export function formatSlicePorts(o: KubeObject): string {
  const ports = slice(o).ports ?? [];
  const list = ports.slice(0, 3).map((p) => (p.port !== undefined && p.port !== null ? String(p.port) : p.name ?? '*'));
  return listWithMore(list, ports.length, 3, '<unset>');
}

/** kubectl's formatDiscoveryEndpoints: every address, ready or not, three at most. */
export function formatSliceEndpoints(o: KubeObject): string {
  const addresses = (slice(o).endpoints ?? []).flatMap((e) => e.addresses ?? []);
  return listWithMore(addresses.slice(0, 3), addresses.length, 3, '<unset>');
}

const endpointSliceColumns: PrinterColumn[] = [
  nameCol,
  col('AddressType', (o) => slice(o).addressType ?? '', { description: 'addressType specifies the type of address carried by this EndpointSlice.' }),
  col('Ports', formatSlicePorts, { description: 'ports specifies the list of network ports exposed by each endpoint in this slice.' }),
  col('Endpoints', formatSliceEndpoints, { description: 'endpoints is a list of unique endpoints in this slice.' }),
  ageCol,
];

// ---- Event, Namespace, Lease -----------------------------------------------------------------

interface EventView {
  type?: string; reason?: string; message?: string; count?: number;
  firstTimestamp?: string | null; lastTimestamp?: string | null; eventTime?: string | null;
  involvedObject?: { kind?: string; name?: string; fieldPath?: string };
  source?: { component?: string; host?: string }; reportingComponent?: string;
}
const event = (o: KubeObject) => o as unknown as EventView;

/** When an event last happened: lastTimestamp, else eventTime, else creation. */
export const eventLastSeen = (o: KubeObject): string | undefined =>
  event(o).lastTimestamp ?? event(o).eventTime ?? o.metadata.creationTimestamp ?? undefined;

const eventColumns: PrinterColumn[] = [
  col('Last Seen', (o, now) => age(eventLastSeen(o), now), { description: 'Time when last event occurred' }),
  col('Type', (o) => event(o).type ?? 'Normal', { description: 'Type of event' }),
  col('Reason', (o) => event(o).reason ?? '', { description: 'Reason of event' }),
  col('Object', (o) => `${(event(o).involvedObject?.kind ?? '').toLowerCase()}/${event(o).involvedObject?.name ?? ''}`, { description: 'The object this event is about' }),
  col('Message', (o) => (event(o).message ?? '').trim(), { description: 'Message of event' }),
  wide('Subobject', (o) => event(o).involvedObject?.fieldPath ?? ''),
  wide('Source', (o) => none([event(o).source?.component ?? event(o).reportingComponent, event(o).source?.host].filter(Boolean).join(', '))),
  wide('First Seen', (o, now) => age(event(o).firstTimestamp ?? eventLastSeen(o), now)),
  col('Count', (o) => event(o).count ?? 1, { priority: 1, type: 'integer' }),
  col('Name', (o) => o.metadata.name ?? '', { priority: 1, format: 'name' }),
];

const namespaceColumns: PrinterColumn[] = [
  nameCol,
  col('Status', (o) => (o.status as { phase?: string } | undefined)?.phase ?? 'Active', { description: 'The status of the namespace' }),
  ageCol,
];

const leaseColumns: PrinterColumn[] = [
  nameCol,
  col('Holder', (o) => (o.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? '', { description: 'The holder of the lease' }),
  ageCol,
];

// kubectl's columns for a PodDisruptionBudget: MIN AVAILABLE, MAX UNAVAILABLE, ALLOWED DISRUPTIONS.
interface BudgetView { spec?: { minAvailable?: number | string; maxUnavailable?: number | string }; status?: { disruptionsAllowed?: number } }
const budget = (o: KubeObject) => o as unknown as BudgetView;
const budgetColumns: PrinterColumn[] = [
  nameCol,
  col('Min Available', (o) => String(budget(o).spec?.minAvailable ?? 'N/A'), { description: 'The minimum number of pods that must be available' }),
  col('Max Unavailable', (o) => String(budget(o).spec?.maxUnavailable ?? 'N/A'), { description: 'The maximum number of pods that may be unavailable' }),
  col('Allowed Disruptions', (o) => budget(o).status?.disruptionsAllowed ?? 0, { type: 'integer', description: 'Calculated number of pods that may be disrupted at this time' }),
  ageCol,
];

const columnsByKind: Record<string, PrinterColumn[]> = {
  Pod: podColumns, Node: nodeColumns, Deployment: deploymentColumns, ReplicaSet: replicaSetColumns,
  Service: serviceColumns, Endpoints: endpointsColumns, EndpointSlice: endpointSliceColumns, Event: eventColumns, Namespace: namespaceColumns, Lease: leaseColumns,
  PodDisruptionBudget: budgetColumns,
};

/** The columns of a kind; a kind without its own gets NAME and AGE. */
export function printerColumns(kind: string): PrinterColumn[] {
  return columnsByKind[kind] ?? [nameCol, ageCol];
}
