// `labctl delete TYPE NAME... | -f FILE | TYPE -l SELECTOR`, with --cascade=background|foreground|orphan.
import type { Command } from 'commander';
import { isNotFound } from '../../api/errors.ts';
import { resourceForObject, type ResourceType } from '../../api/resources.ts';
import { CliContext, targets, UsageError } from '../context.ts';
import type { Runner } from '../main.ts';
import { readManifests } from '../manifests.ts';
import { kindName } from '../context.ts';

interface DeleteOptions { filename?: string[]; selector?: string; cascade: string; gracePeriod?: string; ignoreNotFound?: boolean; allNamespaces?: boolean }

const policies: Record<string, string> = { background: 'Background', foreground: 'Foreground', orphan: 'Orphan', true: 'Background', false: 'Orphan' };

export function registerDelete(program: Command, run: Runner): void {
  program.command('delete')
    .description('delete objects by name, by file, or by label selector')
    .argument('[args...]', 'TYPE NAME..., TYPE/NAME..., or TYPE with -l')
    .option('-f, --filename <path...>', 'delete the objects in these files')
    .option('-l, --selector <selector>', 'delete the objects with these labels')
    .option('--cascade <policy>', 'background, foreground or orphan (keep the dependents)', 'background')
    .option('--grace-period <seconds>', 'seconds a pod gets to stop (0: at once)')
    .option('--ignore-not-found', 'succeed when an object is already gone')
    .action((args: string[], opts: DeleteOptions) => run((ctx) => deleteObjects(ctx, args, opts)));
}

export async function deleteObjects(ctx: CliContext, args: string[], opts: DeleteOptions): Promise<void> {
  const propagationPolicy = policies[opts.cascade];
  if (!propagationPolicy) throw new UsageError(`--cascade must be background, foreground or orphan, got "${opts.cascade}"`);
  if (opts.gracePeriod !== undefined && !/^\d+$/.test(opts.gracePeriod)) throw new UsageError('--grace-period must be a whole number of seconds');
  const options = { propagationPolicy, ...(opts.gracePeriod !== undefined && { gracePeriodSeconds: Number(opts.gracePeriod) }) };
  const work: { r: ResourceType; namespace: string | undefined; name: string }[] = [];
  if (opts.filename) {
    for (const { object } of readManifests(opts.filename)) {
      const r = resourceForObject(object.apiVersion, object.kind);
      if (!r) throw new UsageError(`the server has no ${object.kind} in ${object.apiVersion}`);
      work.push({ r, namespace: r.namespaced ? object.metadata.namespace ?? ctx.namespace : undefined, name: object.metadata.name! });
    }
  } else {
    for (const { resource: r, names } of targets(args)) {
      const namespace = r.namespaced ? ctx.namespace : undefined;
      if (names.length === 0 && !opts.selector) throw new UsageError(`resource(s) were provided, but no name was specified: give names, -l SELECTOR, or -f FILE`);
      const selected = names.length > 0 ? names
        : (await ctx.client.list(r, namespace, { labelSelector: opts.selector })).items.map((o) => o.metadata.name!);
      if (selected.length === 0) ctx.warn(`No resources found in ${ctx.namespace} namespace.`);
      for (const name of selected) work.push({ r, namespace, name });
    }
  }
  let failed: unknown;
  for (const { r, namespace, name } of work) {
    try {
      await ctx.client.delete(r, namespace, name, options);
      ctx.print(`${kindName(r)} "${name}" deleted`);
    } catch (err) {
      if (isNotFound(err) && opts.ignoreNotFound) continue;
      failed ??= err; // carry on with the rest, as kubectl does, and fail at the end
      if (work.length > 1) ctx.warn(`Error from server: ${(err as Error).message}`);
    }
  }
  if (failed) throw failed;
}
