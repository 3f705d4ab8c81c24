// `labctl top nodes|pods`: the usage the agents push, read from the metrics API
// (metrics.k8s.io, served from memory by the API server: apiserver/metrics-api.ts), against what
// the node can give, with the board, architecture and temperature a lab cares about. Unlike
// kubectl, a node or pod whose figures are missing (its agent stopped pushing, a pod that just
// started) is listed with <unknown> rather than left out.
import type { Command } from 'commander';
import type { Node } from '../../api/core.ts';
import { isNotFound } from '../../api/errors.ts';
import type { KubeObject } from '../../api/meta.ts';
import {
  boardModelAnnotation, cpuTemperatureAnnotation, metricsApiVersion,
  type MetricsList, type NodeMetrics, type PodMetrics, type ResourceUsage,
} from '../../api/node-usage.ts';
import { quantityValue } from '../../api/quantity.ts';
import { resourceFor } from '../../api/resources.ts';
import type { CliContext } from '../context.ts';
import type { Runner } from '../main.ts';
import { renderRows } from '../print.ts';

const nodes = resourceFor('', 'nodes')!;
const pods = resourceFor('', 'pods')!;
const unknown = '<unknown>';
const metricsBase = `/apis/${metricsApiVersion}`;

const cores = (n: number) => `${Math.round(n * 1000)}m`;
const mebibytes = (n: number) => `${Math.round(n / 2 ** 20)}Mi`;
const percent = (used: number, of: number | undefined) => (of ? `${Math.round((used / of) * 100)}%` : unknown);
const quantity = (q: string | number | undefined) => {
  if (q === undefined) return undefined;
  try { return quantityValue(q); } catch { return undefined; }
};
/** CPU in cores and memory in bytes of a metrics usage block. */
const amounts = (u: ResourceUsage) => ({ cpu: quantity(u.cpu) ?? 0, memory: quantity(u.memory) ?? 0 });
const query = (selector: string | undefined) => (selector ? `?labelSelector=${encodeURIComponent(selector)}` : '');

export function nodeTopRows(list: KubeObject[], metrics: NodeMetrics[]): string[][] {
  const byName = new Map(metrics.map((m) => [m.metadata.name, m]));
  return list.map((obj) => {
    const node = obj as Node & KubeObject;
    const m = byName.get(node.metadata.name!);
    const u = m && amounts(m.usage);
    const allocatable = node.status?.allocatable ?? {};
    const arch = node.metadata.labels?.['kubernetes.io/arch'] ?? node.status?.nodeInfo?.architecture;
    const temperature = quantity(m?.metadata.annotations?.[cpuTemperatureAnnotation]);
    return [
      node.metadata.name!,
      u ? cores(u.cpu) : unknown, u ? percent(u.cpu, quantity(allocatable.cpu)) : unknown,
      u ? mebibytes(u.memory) : unknown, u ? percent(u.memory, quantity(allocatable.memory)) : unknown,
      arch ?? unknown, node.metadata.annotations?.[boardModelAnnotation] ?? unknown,
      temperature !== undefined ? `${temperature.toFixed(1)}°C` : unknown,
    ];
  });
}

/** One row per pod (or per container with `containers`), figures summed over the pod's containers. */
export function podTopRows(list: KubeObject[], metrics: PodMetrics[], opts: { allNamespaces?: boolean; containers?: boolean }): string[][] {
  const byKey = new Map(metrics.map((m) => [`${m.metadata.namespace}/${m.metadata.name}`, m]));
  return list.flatMap((pod) => {
    const m = byKey.get(`${pod.metadata.namespace}/${pod.metadata.name}`);
    const prefix = [...(opts.allNamespaces ? [pod.metadata.namespace!] : []), pod.metadata.name!];
    if (opts.containers) {
      if (!m) return [[...prefix, unknown, unknown, unknown]];
      return m.containers.map((c) => { const u = amounts(c.usage); return [...prefix, c.name, cores(u.cpu), mebibytes(u.memory)]; });
    }
    if (!m) return [[...prefix, unknown, unknown]];
    const sum = m.containers.map((c) => amounts(c.usage)).reduce((a, b) => ({ cpu: a.cpu + b.cpu, memory: a.memory + b.memory }), { cpu: 0, memory: 0 });
    return [[...prefix, cores(sum.cpu), mebibytes(sum.memory)]];
  });
}

/** A metrics GET; a missing object (no figures yet) is undefined, not an error. */
async function metricsGet<T>(ctx: CliContext, path: string): Promise<T | undefined> {
  try {
    return await ctx.client.request<T>('GET', path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function registerTop(program: Command, run: Runner): void {
  const top = program.command('top').description('show CPU and memory in use');
  top.command('nodes').alias('node').alias('no').argument('[name]').option('-l, --selector <selector>')
    .description('usage of each node, with its architecture, board and temperature')
    .action((name: string | undefined, opts: { selector?: string }) => run(async (ctx) => {
      const [list, metrics] = name
        ? await Promise.all([ctx.client.get(nodes, undefined, name).then((n) => [n]), metricsGet<NodeMetrics>(ctx, `${metricsBase}/nodes/${encodeURIComponent(name)}`).then((m) => (m ? [m] : []))])
        : await Promise.all([ctx.client.list(nodes, undefined, { labelSelector: opts.selector }).then((l) => l.items),
          ctx.client.request<MetricsList<NodeMetrics>>('GET', `${metricsBase}/nodes${query(opts.selector)}`).then((l) => l.items)]);
      if (list.length === 0) { ctx.warn('No resources found'); return; }
      ctx.print(renderRows(['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%', 'ARCH', 'BOARD', 'TEMP'], nodeTopRows(list, metrics)));
    }));
  top.command('pods').alias('pod').alias('po').argument('[name]').option('-l, --selector <selector>').option('-A, --all-namespaces')
    .option('--containers', 'one row per container')
    .description('usage of each pod, summed over its containers')
    .action((name: string | undefined, opts: { selector?: string; allNamespaces?: boolean; containers?: boolean }) => run((ctx) => topPods(ctx, name, opts)));
}

async function topPods(ctx: CliContext, name: string | undefined, opts: { selector?: string; allNamespaces?: boolean; containers?: boolean }): Promise<void> {
  const namespace = opts.allNamespaces ? undefined : ctx.namespace;
  const scope = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  const [list, metrics] = name
    ? await Promise.all([ctx.client.get(pods, ctx.namespace, name).then((p) => [p]),
      metricsGet<PodMetrics>(ctx, `${metricsBase}/namespaces/${encodeURIComponent(ctx.namespace)}/pods/${encodeURIComponent(name)}`).then((m) => (m ? [m] : []))])
    : await Promise.all([ctx.client.list(pods, namespace, { labelSelector: opts.selector }).then((l) => l.items),
      ctx.client.request<MetricsList<PodMetrics>>('GET', `${metricsBase}${scope}/pods${query(opts.selector)}`).then((l) => l.items)]);
  if (list.length === 0) { ctx.warn(opts.allNamespaces ? 'No resources found' : `No resources found in ${ctx.namespace} namespace.`); return; }
  const headers = [...(opts.allNamespaces ? ['NAMESPACE'] : []), 'NAME', ...(opts.containers ? ['CONTAINER'] : []), 'CPU(cores)', 'MEMORY(bytes)'];
  ctx.print(renderRows(headers, podTopRows(list, metrics, opts)));
}
