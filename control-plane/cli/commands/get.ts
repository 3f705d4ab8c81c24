// `labctl get`: tables with kubectl's columns, -o wide|yaml|json|name, and -w, which prints the
// list and then a row for each change as the watch reports it.
import type { Command } from 'commander';
import { isNotFound } from '../../api/errors.ts';
import type { KubeObject } from '../../api/meta.ts';
import type { ResourceType } from '../../api/resources.ts';
import { CliContext, targets } from '../context.ts';
import { columnWidths, formatObjects, objectTable, outputFormat, renderRows, useColour, type OutputFormat } from '../print.ts';

interface GetOptions { output?: string; watch?: boolean; selector?: string; allNamespaces?: boolean; fieldSelector?: string }

export function registerGet(program: Command, run: (fn: (ctx: CliContext) => Promise<void>) => Promise<void>): void {
  program.command('get')
    .description('list resources: pods, nodes, deployments, replicasets, services, endpoints, endpointslices, events, namespaces')
    .argument('<type>', 'resource type, optionally TYPE/NAME or a comma-separated list of types')
    .argument('[names...]', 'object names')
    .option('-o, --output <format>', 'wide, yaml, json or name')
    .option('-w, --watch', 'after listing, print each change')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .option('--field-selector <selector>', 'field selector, e.g. spec.nodeName=pi-1')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .action((type: string, names: string[], opts: GetOptions) => run((ctx) => get(ctx, [type, ...names], opts)));
}

export async function get(ctx: CliContext, args: string[], opts: GetOptions): Promise<void> {
  const format = outputFormat(opts.output);
  const groups = targets(args);
  const multiple = groups.length > 1;
  let printedAny = false;
  for (const { resource: r, names } of groups) {
    const namespace = r.namespaced && !opts.allNamespaces ? ctx.namespace : undefined;
    if (opts.watch) {
      const list = await ctx.client.list(r, namespace, { labelSelector: opts.selector, fieldSelector: fieldSelectorFor(names, opts) });
      return watch(ctx, r, namespace, list.items, list.metadata.resourceVersion, format, opts, names);
    }
    const objects = names.length > 0
      ? await Promise.all(names.map((n) => ctx.client.get(r, namespace, n)))
      : (await ctx.client.list(r, namespace, { labelSelector: opts.selector, fieldSelector: opts.fieldSelector })).items;
    if (objects.length === 0) continue;
    if (format === 'table' || format === 'wide') {
      if (printedAny) ctx.print('');
      const { header, rows } = objectTable(r, objects, {
        wide: format === 'wide', withNamespace: r.namespaced && opts.allNamespaces === true, colour: useColour(ctx.out),
        ...(multiple && { withKind: r }),
      });
      ctx.print(renderRows(header, rows));
    } else {
      ctx.print(formatObjects(format, r, objects, names.length === 1 && !multiple));
    }
    printedAny = true;
  }
  if (!printedAny && format !== 'yaml' && format !== 'json') {
    ctx.warn(opts.allNamespaces || !groups.some((g) => g.resource.namespaced) ? 'No resources found' : `No resources found in ${ctx.namespace} namespace.`);
  } else if (!printedAny) {
    ctx.print(formatObjects(format as 'yaml' | 'json', undefined, [], false));
  }
}

/** Prints the current objects, then one line (or document) per watch event, until interrupted. */
async function watch(ctx: CliContext, r: ResourceType, namespace: string | undefined, initial: KubeObject[], listVersion: string, format: OutputFormat,
  opts: GetOptions, names: string[]): Promise<void> {
  const tableOptions = { wide: format === 'wide', withNamespace: r.namespaced && opts.allNamespaces === true, colour: useColour(ctx.out) };
  let widths: number[] | undefined;
  const show = (objects: KubeObject[], withHeader: boolean) => {
    if (format === 'table' || format === 'wide') {
      const { header, rows } = objectTable(r, objects, tableOptions);
      if (!widths) widths = columnWidths([header, ...rows]).map((w) => w + 2);
      const padded = (withHeader ? [header, ...rows] : rows).map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths![i] ?? 0))).join('   '));
      if (padded.length) ctx.print(padded.join('\n'));
    } else {
      for (const o of objects) ctx.print(format === 'yaml' ? `---\n${formatObjects('yaml', r, [o], true)}` : formatObjects(format, r, [o], true));
    }
  };
  show(initial, true);
  let resourceVersion = listVersion;
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  for (;;) {
    try {
      await ctx.client.watch(r, namespace, { labelSelector: opts.selector, fieldSelector: fieldSelectorFor(names, opts), resourceVersion, allowWatchBookmarks: true }, (e) => {
        resourceVersion = e.object.metadata?.resourceVersion ?? resourceVersion;
        if (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED') show([e.object], false);
      }, controller.signal);
    } catch (err) {
      if (isNotFound(err) || controller.signal.aborted) throw err;
      // Expired history (410) or a dropped connection: carry on from a fresh list, as kubectl does.
      resourceVersion = (await ctx.client.list(r, namespace, { labelSelector: opts.selector, fieldSelector: fieldSelectorFor(names, opts) })).metadata.resourceVersion;
    }
    if (controller.signal.aborted) return;
  }
}

function fieldSelectorFor(names: string[], opts: GetOptions): string | undefined {
  const parts = [opts.fieldSelector, names.length === 1 ? `metadata.name=${names[0]}` : undefined].filter(Boolean);
  return parts.length ? parts.join(',') : undefined;
}
