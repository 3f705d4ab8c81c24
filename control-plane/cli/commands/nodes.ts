// `labctl cordon|uncordon|drain NODE`. Drain cordons the node, then deletes its pods (honouring
// their grace period) and waits until they are gone, so their controllers recreate them elsewhere.
// `labctl node revoke NODE`: the node's credential and serving certificate are refused from then
// on (apiserver/join.ts), for a board that was lost or stolen.
import type { Command } from 'commander';
import { isNotFound } from '../../api/errors.ts';
import type { KubeObject } from '../../api/meta.ts';
import { resourceFor } from '../../api/resources.ts';
import { CliContext, UsageError } from '../context.ts';
import type { Runner } from '../main.ts';

const nodes = resourceFor('', 'nodes')!;
const pods = resourceFor('', 'pods')!;

async function setUnschedulable(ctx: CliContext, name: string, unschedulable: boolean): Promise<void> {
  const node = await ctx.client.get(nodes, undefined, name);
  const verb = unschedulable ? 'cordoned' : 'uncordoned';
  if (((node.spec as { unschedulable?: boolean } | undefined)?.unschedulable ?? false) === unschedulable) {
    ctx.print(`node/${name} already ${verb}`);
    return;
  }
  await ctx.client.patch(nodes, undefined, name, { spec: { unschedulable: unschedulable || null } }, 'strategic');
  ctx.print(`node/${name} ${verb}`);
}

interface DrainOptions { force?: boolean; ignoreDaemonsets?: boolean; gracePeriod: string; timeout: string }

export function registerNodeCommands(program: Command, run: Runner): void {
  program.command('cordon').argument('<node>').description('mark a node unschedulable')
    .action((name: string) => run((ctx) => setUnschedulable(ctx, name, true)));
  program.command('uncordon').argument('<node>').description('mark a node schedulable again')
    .action((name: string) => run((ctx) => setUnschedulable(ctx, name, false)));
  program.command('drain').argument('<node>').description('cordon a node and move its pods away')
    .option('--force', 'also delete pods no controller will recreate')
    .option('--ignore-daemonsets', 'accepted for kubectl compatibility (labkube has no DaemonSets)')
    .option('--grace-period <seconds>', 'seconds each pod gets to stop (-1: the pod\'s own)', '-1')
    .option('--timeout <seconds>', 'give up waiting for pods to go after this long (0: for ever)', '0')
    .action((name: string, opts: DrainOptions) => run((ctx) => drain(ctx, name, opts)));
  const node = program.command('node').description('manage nodes\' credentials');
  node.command('revoke').argument('<node>')
    .description('refuse a node\'s credential and serving certificate from now on; it may join again only after `labctl delete node NODE`')
    .action((name: string) => run((ctx) => revoke(ctx, name)));
}

export async function revoke(ctx: CliContext, name: string): Promise<void> {
  await ctx.client.request('POST', `/labkube/v1/nodes/${encodeURIComponent(name)}/revoke`);
  ctx.print(`node/${name} revoked`);
  ctx.warn(`Its agent is refused from now on and cannot join again while node ${name} exists; its pods are evicted once the node goes NotReady. ` +
    `To let a reinstalled board join under this name: labctl delete node ${name}`);
}

export async function drain(ctx: CliContext, name: string, opts: DrainOptions): Promise<void> {
  const grace = Number(opts.gracePeriod);
  const timeout = Number(opts.timeout);
  if (!Number.isInteger(grace) || !Number.isFinite(timeout) || timeout < 0) throw new UsageError('--grace-period and --timeout must be whole numbers');
  await setUnschedulable(ctx, name, true);
  const onNode = (await ctx.client.list(pods, undefined, { fieldSelector: `spec.nodeName=${name}` })).items
    .filter((p) => !isFinished(p));
  const unmanaged = onNode.filter((p) => !p.metadata.ownerReferences?.some((o) => o.controller));
  if (unmanaged.length > 0 && !opts.force) {
    throw new UsageError(`cannot delete Pods that declare no controller (use --force to override): ${unmanaged.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ')}`);
  }
  if (unmanaged.length > 0) ctx.warn(`Warning: deleting Pods that declare no controller: ${unmanaged.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ')}`);
  for (const pod of onNode) {
    ctx.print(`evicting pod ${pod.metadata.namespace}/${pod.metadata.name}`);
    try {
      await ctx.client.delete(pods, pod.metadata.namespace, pod.metadata.name!, { ...(grace >= 0 && { gracePeriodSeconds: grace }), preconditions: { uid: pod.metadata.uid! } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  const deadline = timeout > 0 ? Date.now() + timeout * 1000 : Infinity;
  for (const pod of onNode) {
    for (;;) {
      const gone = await ctx.client.get(pods, pod.metadata.namespace, pod.metadata.name!)
        .then((p) => p.metadata.uid !== pod.metadata.uid, (err: unknown) => { if (isNotFound(err)) return true; throw err; });
      if (gone) break;
      if (Date.now() > deadline) throw new Error(`drain did not complete within ${timeout}s: pod ${pod.metadata.namespace}/${pod.metadata.name} is still there`);
      // The agent confirms a pod stopped within its grace period; checking twice a second is plenty.
      await new Promise((r) => setTimeout(r, 500));
    }
    ctx.print(`pod/${pod.metadata.name} evicted`);
  }
  ctx.print(`node/${name} drained`);
}

const isFinished = (p: KubeObject) => ['Succeeded', 'Failed'].includes((p.status as { phase?: string } | undefined)?.phase ?? '');
