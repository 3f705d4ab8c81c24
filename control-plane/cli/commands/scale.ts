// `labctl scale deployment/NAME --replicas=N` (or `scale deployment NAME`), through the scale
// subresource as kubectl does.
import type { Command } from 'commander';
import { targets, UsageError } from '../context.ts';
import type { Runner } from '../main.ts';
import { objectRef } from '../print.ts';

export function registerScale(program: Command, run: Runner): void {
  program.command('scale')
    .description('set the number of replicas of a deployment or replica set')
    .argument('<args...>', 'TYPE/NAME or TYPE NAME')
    .requiredOption('--replicas <n>', 'the new number of replicas')
    .action((args: string[], opts: { replicas: string }) => run(async (ctx) => {
      if (!/^\d+$/.test(opts.replicas)) throw new UsageError(`--replicas must be a whole number, got "${opts.replicas}"`);
      for (const { resource: r, names } of targets(args)) {
        if (!r.subresources.includes('scale')) throw new UsageError(`${r.plural} cannot be scaled`);
        if (names.length === 0) throw new UsageError('give the name of the object to scale');
        for (const name of names) {
          await ctx.client.patch(r, ctx.namespace, name, { spec: { replicas: Number(opts.replicas) } }, 'merge', 'scale');
          ctx.print(`${objectRef(r, name)} scaled`);
        }
      }
    }));
}
