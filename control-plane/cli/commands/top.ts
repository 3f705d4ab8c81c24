// `labctl top nodes|pods`: the usage the agents publish (see api/node-usage.ts), against what
// the node can give, with the board, architecture and temperature a lab cares about.
import type { Command } from 'commander';
import type { KubeObject } from '../../api/meta.ts';
import { nodeUsage, parseQuantity, podUsage } from '../../api/node-usage.ts';
import { resourceFor } from '../../api/resources.ts';
import type { CliContext } from '../context.ts';
import type { Runner } from '../main.ts';
import { renderRows } from '../print.ts';

const nodes = resourceFor('', 'nodes')!;
const pods = resourceFor('', 'pods')!;
const unknown = '<unknown>';

const cores = (n: number) => `${Math.round(n * 1000)}m`;
const mebibytes = (n: number) => `${Math.round(n / 2 ** 20)}Mi`;
const percent = (used: number, of: number | undefined) => (of ? `${Math.round((used / of) * 100)}%` : unknown);

export function nodeTopRows(list: KubeObject[]): string[][] {
  return list.map((node) => {
    const u = nodeUsage(node);
    const allocatable = (node.status as { allocatable?: Record<string, string> } | undefined)?.allocatable ?? {};
    return [
      node.metadata.name!,
      u.cpu !== undefined ? cores(u.cpu) : unknown, u.cpu !== undefined ? percent(u.cpu, parseQuantity(allocatable.cpu)) : unknown,
      u.memory !== undefined ? mebibytes(u.memory) : unknown, u.memory !== undefined ? percent(u.memory, parseQuantity(allocatable.memory)) : unknown,
      u.arch ?? unknown, u.boardModel ?? unknown, u.temperature !== undefined ? `${u.temperature.toFixed(1)}°C` : unknown,
    ];
  });
}

export function registerTop(program: Command, run: Runner): void {
  const top = program.command('top').description('show CPU and memory in use');
  top.command('nodes').alias('node').alias('no').argument('[name]').option('-l, --selector <selector>')
    .description('usage of each node, with its architecture, board and temperature')
    .action((name: string | undefined, opts: { selector?: string }) => run(async (ctx) => {
      const list = name ? [await ctx.client.get(nodes, undefined, name)] : (await ctx.client.list(nodes, undefined, { labelSelector: opts.selector })).items;
      if (list.length === 0) { ctx.warn('No resources found'); return; }
      ctx.print(renderRows(['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%', 'ARCH', 'BOARD', 'TEMP'], nodeTopRows(list)));
    }));
  top.command('pods').alias('pod').alias('po').argument('[name]').option('-l, --selector <selector>').option('-A, --all-namespaces')
    .description('usage of each pod, summed over its containers')
    .action((name: string | undefined, opts: { selector?: string; allNamespaces?: boolean }) => run((ctx) => topPods(ctx, name, opts)));
}

async function topPods(ctx: CliContext, name: string | undefined, opts: { selector?: string; allNamespaces?: boolean }): Promise<void> {
  const namespace = opts.allNamespaces ? undefined : ctx.namespace;
  const list = name ? [await ctx.client.get(pods, ctx.namespace, name)] : (await ctx.client.list(pods, namespace, { labelSelector: opts.selector })).items;
  if (list.length === 0) { ctx.warn(opts.allNamespaces ? 'No resources found' : `No resources found in ${ctx.namespace} namespace.`); return; }
  const rows = list.map((pod) => {
    const u = podUsage(pod);
    return [...(opts.allNamespaces ? [pod.metadata.namespace!] : []), pod.metadata.name!, u ? cores(u.cpu) : unknown, u ? mebibytes(u.memory) : unknown];
  });
  ctx.print(renderRows([...(opts.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'CPU(cores)', 'MEMORY(bytes)'], rows));
}
