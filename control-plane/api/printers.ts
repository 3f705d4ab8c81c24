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

// ---- Service, Endpoints ----------------------------------------------------------------------

interface ServiceView {
  spec?: { type?: string; clusterIP?: string; selector?: Record<string, string>; ports?: { port: number; nodePort?: number; protocol?: string }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}
const service = (o: KubeObject) => o as unknown as ServiceView;

function serviceExternalIP(o: KubeObject): string {
  const s = service(o);
  if (s.spec?.type !== 'LoadBalancer') return '<none>';
  const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter(Boolean);
  return ips.length ? ips.join(',') : '<pending>';
}

const serviceColumns: PrinterColumn[] = [
  nameCol,
  col('Type', (o) => service(o).spec?.type ?? 'ClusterIP', { description: 'The type of the service.' }),
  col('Cluster-IP', (o) => none(service(o).spec?.clusterIP), { description: 'The IP address of the service.' }),
  col('External-IP', serviceExternalIP, { description: 'The external IP address of the service.' }),
  col('Port(s)', (o) => none((service(o).spec?.ports ?? [])
    .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',')), { description: 'The ports of the service.' }),
  ageCol,
  wide('Selector', (o) => none(Object.entries(service(o).spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(','))),
];

interface EndpointsView { subsets?: { addresses?: { ip: string }[]; ports?: { port: number }[] }[] }

/** `10.0.0.1:80,10.0.0.2:80 + 3 more...`, as kubectl abbreviates. */
export function formatEndpoints(o: KubeObject): string {
  const all: string[] = [];
  for (const subset of (o as unknown as EndpointsView).subsets ?? []) {
    for (const a of subset.addresses ?? []) {
      if (!subset.ports?.length) all.push(a.ip);
      for (const p of subset.ports ?? []) all.push(`${a.ip}:${p.port}`);
    }
  }
  if (all.length === 0) return '<none>';
  return all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',');
}

const endpointsColumns: PrinterColumn[] = [nameCol, col('Endpoints', formatEndpoints, { description: 'The endpoints of the service.' }), ageCol];

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

const columnsByKind: Record<string, PrinterColumn[]> = {
  Pod: podColumns, Node: nodeColumns, Deployment: deploymentColumns, ReplicaSet: replicaSetColumns,
  Service: serviceColumns, Endpoints: endpointsColumns, Event: eventColumns, Namespace: namespaceColumns, Lease: leaseColumns,
};

/** The columns of a kind; a kind without its own gets NAME and AGE. */
export function printerColumns(kind: string): PrinterColumn[] {
  return columnsByKind[kind] ?? [nameCol, ageCol];
}
