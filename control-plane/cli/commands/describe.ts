// `labctl describe TYPE NAME`: the object for a person (what kubectl describe shows for the
// kinds labkube has), followed by the Events about it.
import type { Command } from 'commander';
import type { KubeObject } from '../../api/meta.ts';
import { age, eventLastSeen, formatLabels, joinHostPort, nodeStatus, podSummary } from '../../api/printers.ts';
import { formatSelector, fromLabelSelector } from '../../api/labels.ts';
import { resourceFor, type ResourceType } from '../../api/resources.ts';
import { CliContext, targets } from '../context.ts';
import type { Runner } from '../main.ts';
import { renderRows } from '../print.ts';
import { stringify } from 'yaml';

const events = resourceFor('', 'events')!;
const endpointSlices = resourceFor('discovery.k8s.io', 'endpointslices')!;
type Lines = [label: string, value: string, indent?: number][];

export function registerDescribe(program: Command, run: Runner): void {
  program.command('describe').argument('<args...>', 'TYPE NAME..., TYPE/NAME, or TYPE (all of them)')
    .option('-l, --selector <selector>', 'describe the objects with these labels')
    .description('show an object in detail, with its events')
    .action((args: string[], opts: { selector?: string }) => run(async (ctx) => {
      const blocks: string[] = [];
      for (const { resource: r, names } of targets(args)) {
        const namespace = r.namespaced ? ctx.namespace : undefined;
        const objects = names.length > 0 ? await Promise.all(names.map((n) => ctx.client.get(r, namespace, n)))
          : (await ctx.client.list(r, namespace, { labelSelector: opts.selector })).items;
        for (const o of objects) blocks.push(await describe(ctx, r, o));
      }
      ctx.print(blocks.join('\n\n'));
    }));
}

const map = (m: Record<string, string> | undefined, sep = '=') =>
  (m && Object.keys(m).length ? Object.entries(m).map(([k, v]) => `${k}${sep}${v}`) : ['<none>']);

function header(o: KubeObject, r: ResourceType): Lines {
  const lines: Lines = [['Name:', o.metadata.name!]];
  if (r.namespaced) lines.push(['Namespace:', o.metadata.namespace ?? '']);
  const multi = (label: string, values: string[]) => values.forEach((v, i) => lines.push([i === 0 ? label : '', v]));
  multi('Labels:', map(o.metadata.labels));
  multi('Annotations:', map(Object.fromEntries(Object.entries(o.metadata.annotations ?? {}).filter(([k]) => k !== 'kubectl.kubernetes.io/last-applied-configuration')), ': '));
  lines.push(['CreationTimestamp:', o.metadata.creationTimestamp ?? '<unknown>']);
  if (o.metadata.deletionTimestamp) lines.push(['DeletionTimestamp:', o.metadata.deletionTimestamp]);
  const owner = o.metadata.ownerReferences?.find((x) => x.controller);
  if (owner) lines.push(['Controlled By:', `${owner.kind}/${owner.name}`]);
  return lines;
}

interface ContainerView { name: string; image: string; ports?: { containerPort: number; protocol?: string }[]; env?: { name: string; value?: string }[] }

function containers(list: ContainerView[] | undefined, statuses: { name: string; ready: boolean; restartCount: number; state?: Record<string, { reason?: string; startedAt?: string } | undefined> }[] = [], indent = 0): Lines {
  const lines: Lines = [['Containers:', '', indent]];
  for (const c of list ?? []) {
    lines.push([`${c.name}:`, '', indent + 2]);
    lines.push(['Image:', c.image, indent + 4]);
    lines.push(['Port:', c.ports?.map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`).join(', ') || '<none>', indent + 4]);
    const s = statuses.find((x) => x.name === c.name);
    if (s) {
      const [state, detail] = Object.entries(s.state ?? {}).find(([, v]) => v) ?? ['Waiting', undefined];
      lines.push(['State:', `${state[0]!.toUpperCase()}${state.slice(1)}`, indent + 4]);
      if (detail?.reason) lines.push(['Reason:', detail.reason, indent + 6]);
      if (detail?.startedAt) lines.push(['Started:', detail.startedAt, indent + 6]);
      lines.push(['Ready:', s.ready ? 'True' : 'False', indent + 4]);
      lines.push(['Restart Count:', String(s.restartCount), indent + 4]);
    }
    lines.push(['Environment:', c.env?.length ? '' : '<none>', indent + 4]);
    for (const e of c.env ?? []) lines.push([`${e.name}:`, e.value ?? '', indent + 6]);
  }
  return lines;
}

function body(r: ResourceType, o: KubeObject): Lines {
  const spec = (o.spec ?? {}) as Record<string, never>;
  const status = (o.status ?? {}) as Record<string, never>;
  switch (r.kind) {
    case 'Pod': {
      const s = podSummary(o);
      const conditions = (status.conditions ?? []) as { type: string; status: string }[];
      return [
        ['Node:', spec.nodeName ?? '<none>'], ['Status:', s.status], ['IP:', status.podIP ?? ''], ['Ready:', s.ready],
        ...containers(spec.containers, status.containerStatuses),
        ['Conditions:', conditions.length ? '' : '<none>'], ...conditions.map((c): [string, string, number] => [`${c.type}`, c.status, 2]),
        ['QoS Class:', status.qosClass ?? ''],
        ['Node-Selectors:', map(spec.nodeSelector).join(',')],
      ];
    }
    case 'Deployment': case 'ReplicaSet': {
      const desired = (spec as { replicas?: number }).replicas ?? 1;
      const st = status as { replicas?: number; updatedReplicas?: number; availableReplicas?: number; readyReplicas?: number };
      const template = (spec as { template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: ContainerView[] } } }).template;
      const replicas = r.kind === 'Deployment'
        ? `${desired} desired | ${st.updatedReplicas ?? 0} updated | ${st.replicas ?? 0} total | ${st.availableReplicas ?? 0} available | ${(st.replicas ?? 0) - (st.availableReplicas ?? 0)} unavailable`
        : `${st.replicas ?? 0} current / ${desired} desired`;
      const strategy = (spec as { strategy?: { type?: string } }).strategy?.type;
      return [
        ['Selector:', formatSelector(fromLabelSelector((spec as { selector?: Parameters<typeof fromLabelSelector>[0] }).selector))],
        ['Replicas:', replicas],
        ...(r.kind === 'Deployment' ? [['StrategyType:', strategy ?? 'RollingUpdate'] as [string, string]] : []),
        ...((spec as { paused?: boolean }).paused ? [['Paused:', 'true'] as [string, string]] : []),
        ['Pod Template:', ''], ['Labels:', map(template?.metadata?.labels).join(','), 2],
        ...containers(template?.spec?.containers, [], 2),
      ];
    }
    case 'Node': {
      const info = (status as { nodeInfo?: Record<string, string> }).nodeInfo ?? {};
      const conditions = ((status as { conditions?: { type: string; status: string; reason?: string; message?: string }[] }).conditions ?? []);
      const res = (label: string, m: Record<string, string> | undefined): Lines => [[label, ''], ...Object.entries(m ?? {}).map(([k, v]): [string, string, number] => [`${k}:`, String(v), 2])];
      return [
        ['Status:', nodeStatus(o)], ['Unschedulable:', String((spec as { unschedulable?: boolean }).unschedulable ?? false)],
        ['Taints:', ((spec as { taints?: { key: string; value?: string; effect: string }[] }).taints ?? []).map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join(', ') || '<none>'],
        ['Conditions:', ''], ...conditions.map((c): [string, string, number] => [c.type, `${c.status}  ${c.reason ?? ''}  ${c.message ?? ''}`.trim(), 2]),
        ['Addresses:', ''], ...((status as { addresses?: { type: string; address: string }[] }).addresses ?? []).map((a): [string, string, number] => [`${a.type}:`, a.address, 2]),
        ...res('Capacity:', (status as { capacity?: Record<string, string> }).capacity),
        ...res('Allocatable:', (status as { allocatable?: Record<string, string> }).allocatable),
        ['System Info:', ''], ...Object.entries(info).map(([k, v]): [string, string, number] => [`${k}:`, v, 2]),
      ];
    }
    default: {
      const rest = { ...o } as Record<string, unknown>;
      for (const k of ['apiVersion', 'kind', 'metadata']) delete rest[k];
      return Object.keys(rest).length ? [['', stringify(rest).trimEnd()]] : [];
    }
  }
}

// ---- Service (kubectl's describeService) ----

interface ServiceSpecView {
  type?: string; selector?: Record<string, string>; clusterIP?: string; clusterIPs?: string[]; ipFamilies?: string[]; ipFamilyPolicy?: string;
  externalIPs?: string[]; loadBalancerIP?: string; externalTrafficPolicy?: string; internalTrafficPolicy?: string; sessionAffinity?: string;
  ports?: { name?: string; port: number; protocol?: string; targetPort?: number | string; nodePort?: number }[];
}
interface SliceView { ports?: { name?: string; port?: number }[] | null; endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }

/** Lines of `key=value` (or `key: value`), sorted, the first beside the label, as kubectl prints labels. */
function multiline(label: string, m: Record<string, string> | undefined, sep: string): Lines {
  const keys = Object.keys(m ?? {}).sort();
  if (keys.length === 0) return [[label, '<none>']];
  return keys.map((k, i): [string, string] => [i === 0 ? label : '', `${k}${sep}${m![k]}`]);
}

/**
 * kubectl's formatEndpointSlices: the ready `ip:port`s of the slices' ports named `portName`
 * (every address when the slices have no ports), three at most; `<none>` without slices.
 */
export function readyEndpointsOf(slices: SliceView[], portName: string | undefined): string {
  if (slices.length === 0) return '<none>';
  const all: string[] = [];
  for (const slice of slices) {
    const ready = (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false);
    if (!slice.ports?.length) { all.push(...ready.map((e) => e.addresses[0]!)); continue; }
    for (const port of slice.ports) {
      if ((port.name ?? '') !== (portName ?? '')) continue;
      all.push(...ready.map((e) => joinHostPort(e.addresses[0]!, port.port ?? 0)));
    }
  }
  const text = all.slice(0, 3).join(',');
  return all.length > 3 ? `${text} + ${all.length - 3} more...` : text;
}

function serviceLines(o: KubeObject, slices: SliceView[]): Lines {
  const spec = (o.spec ?? {}) as ServiceSpecView;
  const ingress = ((o.status as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined)?.loadBalancer?.ingress ?? [])
    .map((i) => i.ip || i.hostname).filter(Boolean);
  const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';
  const lines: Lines = [
    ['Name:', o.metadata.name!], ['Namespace:', o.metadata.namespace ?? ''],
    ...multiline('Labels:', o.metadata.labels, '='),
    ...multiline('Annotations:', Object.fromEntries(Object.entries(o.metadata.annotations ?? {}).filter(([k]) => k !== lastApplied)), ': '),
    ['Selector:', formatLabels(spec.selector)],
    ['Type:', spec.type ?? 'ClusterIP'],
  ];
  if (spec.ipFamilyPolicy) lines.push(['IP Family Policy:', spec.ipFamilyPolicy]);
  lines.push(['IP Families:', spec.ipFamilies?.join(',') || '<none>']);
  lines.push(['IP:', spec.clusterIP ?? '']);
  lines.push(['IPs:', spec.clusterIPs?.join(',') || '<none>']);
  if (spec.externalIPs?.length) lines.push(['External IPs:', spec.externalIPs.join(',')]);
  if (spec.loadBalancerIP) lines.push(['Desired LoadBalancer IP:', spec.loadBalancerIP]);
  if (ingress.length) lines.push(['LoadBalancer Ingress:', ingress.join(', ')]);
  for (const p of spec.ports ?? []) {
    const name = p.name || '<unset>';
    const protocol = p.protocol ?? 'TCP';
    lines.push(['Port:', `${name}  ${p.port}/${protocol}`]);
    lines.push(['TargetPort:', `${p.targetPort ?? p.port}/${protocol}`]);
    if (p.nodePort) lines.push(['NodePort:', `${name}  ${p.nodePort}/${protocol}`]);
    lines.push(['Endpoints:', readyEndpointsOf(slices, p.name)]);
  }
  if (!spec.ports?.length) lines.push(['Endpoints:', readyEndpointsOf(slices, undefined)]);
  lines.push(['Session Affinity:', spec.sessionAffinity ?? 'None']);
  if (spec.externalTrafficPolicy) lines.push(['External Traffic Policy:', spec.externalTrafficPolicy]);
  if (spec.internalTrafficPolicy) lines.push(['Internal Traffic Policy:', spec.internalTrafficPolicy]);
  return lines;
}

function renderLines(lines: Lines): string {
  const width = Math.max(0, ...lines.map(([label, , indent]) => (indent ?? 0) + label.length)) + 2;
  return lines.map(([label, value, indent]) => {
    const left = `${' '.repeat(indent ?? 0)}${label}`;
    return value ? `${left.padEnd(width)}${value}` : left;
  }).join('\n');
}

async function describe(ctx: CliContext, r: ResourceType, o: KubeObject): Promise<string> {
  let lines: Lines;
  if (r.kind === 'Service') {
    const slices = await ctx.client.list(endpointSlices, o.metadata.namespace, { labelSelector: `kubernetes.io/service-name=${o.metadata.name}` });
    lines = serviceLines(o, slices.items as unknown as SliceView[]);
  } else {
    lines = [...header(o, r), ...body(r, o)];
  }
  const selector = [`involvedObject.name=${o.metadata.name}`, `involvedObject.kind=${r.kind}`, ...(o.metadata.namespace ? [`involvedObject.namespace=${o.metadata.namespace}`] : [])];
  const list = await ctx.client.list(events, o.metadata.namespace, { fieldSelector: selector.join(',') });
  const mine = list.items.filter((e) => !(e as { involvedObject?: { uid?: string } }).involvedObject?.uid || (e as { involvedObject?: { uid?: string } }).involvedObject?.uid === o.metadata.uid);
  // kubectl aligns "Events:  <none>" with the fields above it.
  if (mine.length === 0) return renderLines([...lines, ['Events:', '<none>']]);
  const text = renderLines(lines);
  mine.sort((a, b) => (eventLastSeen(a) ?? '').localeCompare(eventLastSeen(b) ?? ''));
  const rows = mine.map((e) => {
    const ev = e as { type?: string; reason?: string; message?: string; count?: number; source?: { component?: string }; reportingComponent?: string };
    const seen = age(eventLastSeen(e));
    return [ev.type ?? 'Normal', ev.reason ?? '', (ev.count ?? 1) > 1 ? `${seen} (x${ev.count})` : seen, ev.source?.component ?? ev.reportingComponent ?? '', ev.message ?? ''];
  });
  const table = renderRows(['Type', 'Reason', 'Age', 'From', 'Message'], [['----', '------', '----', '----', '-------'], ...rows]);
  return `${text}\nEvents:\n${table.split('\n').map((l) => `  ${l}`).join('\n')}`;
}
