// `labctl logs POD [-c CONTAINER] [-f] [--tail N]`: the agent serves a pod's log through the
// API server at pods/NAME/log; labctl streams it to stdout as it arrives.
import type { Command } from 'commander';
import { CliContext, UsageError } from '../context.ts';
import type { Runner } from '../main.ts';

interface LogsOptions { container?: string; follow?: boolean; tail?: string; previous?: boolean; timestamps?: boolean }

export function registerLogs(program: Command, run: Runner): void {
  program.command('logs').argument('<pod>', 'POD or pod/POD').description('print the log of a container in a pod')
    .option('-c, --container <name>', 'the container (default: the only one)')
    .option('-f, --follow', 'keep printing as the log grows')
    .option('--tail <lines>', 'only the last N lines')
    .option('-p, --previous', 'the log of the previous, crashed instance')
    .option('--timestamps', 'prefix each line with its time')
    .action((pod: string, opts: LogsOptions) => run((ctx) => logs(ctx, pod.replace(/^(pods?|po)\//, ''), opts)));
}

export async function logs(ctx: CliContext, pod: string, opts: LogsOptions): Promise<void> {
  if (opts.tail !== undefined && !/^-?\d+$/.test(opts.tail)) throw new UsageError('--tail must be a whole number');
  const query = new URLSearchParams();
  if (opts.container) query.set('container', opts.container);
  if (opts.follow) query.set('follow', 'true');
  if (opts.tail !== undefined && Number(opts.tail) >= 0) query.set('tailLines', opts.tail);
  if (opts.previous) query.set('previous', 'true');
  if (opts.timestamps) query.set('timestamps', 'true');
  const qs = query.toString();
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  try {
    const res = await ctx.stream(`/api/v1/namespaces/${encodeURIComponent(ctx.namespace)}/pods/${encodeURIComponent(pod)}/log${qs ? `?${qs}` : ''}`, controller.signal);
    for await (const chunk of res) ctx.out.write(chunk as Buffer);
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  } finally {
    process.off('SIGINT', stop);
  }
}
