// `labctl rollout status|history|undo|restart|pause|resume deployment/NAME`. Revisions are the
// `deployment.kubernetes.io/revision` annotations the deployment controller puts on the
// deployment's replica sets, as in Kubernetes.
import type { Command } from 'commander';
import type { Deployment, ReplicaSet } from '../../api/apps.ts';
import type { KubeObject } from '../../api/meta.ts';
import { deepEqual, findCondition, timestamp } from '../../api/objects.ts';
import { resourceFor } from '../../api/resources.ts';
import { CliContext, targets, UsageError } from '../context.ts';
import type { Runner } from '../main.ts';
import { objectRef, renderRows, useColour } from '../print.ts';

const deployments = resourceFor('apps', 'deployments')!;
const replicaSets = resourceFor('apps', 'replicasets')!;
export const revisionAnnotation = 'deployment.kubernetes.io/revision';
const changeCauseAnnotation = 'kubernetes.io/change-cause';
const restartedAtAnnotation = 'kubectl.kubernetes.io/restartedAt';

type DeploymentObject = Deployment & KubeObject;
type ReplicaSetObject = ReplicaSet & KubeObject;

function deploymentName(args: string[]): string {
  const [target] = targets(args);
  if (!target || target.resource !== deployments || target.names.length !== 1) {
    throw new UsageError('rollout works on one deployment: deployment/NAME or deployment NAME');
  }
  return target.names[0]!;
}

export function registerRollout(program: Command, run: Runner): void {
  const rollout = program.command('rollout').description('manage the rollout of a deployment');
  rollout.command('status').argument('<args...>', 'deployment/NAME')
    .option('--timeout <seconds>', 'give up after this long (0: wait for ever)', '0')
    .description('wait until the rollout finishes, showing its progress')
    .action((args: string[], opts: { timeout: string }) => run((ctx) => rolloutStatus(ctx, deploymentName(args), Number(opts.timeout))));
  rollout.command('history').argument('<args...>', 'deployment/NAME').description('list the revisions of a deployment')
    .action((args: string[]) => run((ctx) => rolloutHistory(ctx, deploymentName(args))));
  rollout.command('undo').argument('<args...>', 'deployment/NAME').description('go back to the previous (or a given) revision')
    .option('--to-revision <n>', 'the revision to go back to (0: the previous one)', '0')
    .action((args: string[], opts: { toRevision: string }) => run((ctx) => rolloutUndo(ctx, deploymentName(args), Number(opts.toRevision))));
  rollout.command('restart').argument('<args...>', 'deployment/NAME').description('replace every pod, one step at a time')
    .action((args: string[]) => run(async (ctx) => {
      const name = deploymentName(args);
      const d = await ctx.client.get<DeploymentObject>(deployments, ctx.namespace, name);
      if (d.spec.paused) throw new UsageError(`can't restart paused deployment (run rollout resume first)`);
      await ctx.client.patch(deployments, ctx.namespace, name, { spec: { template: { metadata: { annotations: { [restartedAtAnnotation]: timestamp() } } } } }, 'strategic');
      ctx.print(`${objectRef(deployments, name)} restarted`);
    }));
  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    rollout.command(verb).argument('<args...>', 'deployment/NAME').description(paused ? 'stop rolling out template changes' : 'continue a paused rollout')
      .action((args: string[]) => run(async (ctx) => {
        const name = deploymentName(args);
        const d = await ctx.client.get<DeploymentObject>(deployments, ctx.namespace, name);
        if ((d.spec.paused ?? false) === paused) throw new UsageError(`deployments/${name} is ${paused ? 'already paused' : 'not paused'}`);
        await ctx.client.patch(deployments, ctx.namespace, name, { spec: { paused: paused || null } }, 'merge');
        ctx.print(`${objectRef(deployments, name)} ${paused ? 'paused' : 'resumed'}`);
      }));
  }
}

/** kubectl's DeploymentStatusViewer: a message and whether the rollout is done. */
export function rolloutProgress(d: DeploymentObject): { message: string; done: boolean } {
  const name = d.metadata.name;
  const status = d.status ?? {};
  if ((d.metadata.generation ?? 0) > (status.observedGeneration ?? 0)) return { message: 'Waiting for deployment spec update to be observed...', done: false };
  if (findCondition(status.conditions, 'Progressing')?.reason === 'ProgressDeadlineExceeded') {
    throw new Error(`deployment "${name}" exceeded its progress deadline`);
  }
  const desired = d.spec.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  if (updated < desired) return { message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${desired} new replicas have been updated...`, done: false };
  const total = status.replicas ?? 0;
  if (total > updated) return { message: `Waiting for deployment "${name}" rollout to finish: ${total - updated} old replicas are pending termination...`, done: false };
  const available = status.availableReplicas ?? 0;
  if (available < updated) return { message: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...`, done: false };
  return { message: `deployment "${name}" successfully rolled out`, done: true };
}

export async function rolloutStatus(ctx: CliContext, name: string, timeoutSeconds: number): Promise<void> {
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) throw new UsageError('--timeout must be a number of seconds');
  const tty = useColour(ctx.out);
  let last = '';
  const report = (message: string, done: boolean) => {
    if (message === last) return;
    last = message;
    // On a terminal the progress is one line that changes in place; in a log, a line per change.
    if (tty) ctx.out.write(`\r\x1b[K${message}${done ? '\n' : ''}`);
    else ctx.print(message);
  };
  const controller = new AbortController();
  const timer = timeoutSeconds > 0 ? setTimeout(() => controller.abort(), timeoutSeconds * 1000) : undefined;
  try {
    for (;;) {
      const d = await ctx.client.get<DeploymentObject>(deployments, ctx.namespace, name);
      let progress = rolloutProgress(d);
      report(progress.message, progress.done);
      if (progress.done) return;
      await ctx.client.watch(deployments, ctx.namespace, { fieldSelector: `metadata.name=${name}`, resourceVersion: d.metadata.resourceVersion }, (e) => {
        if (e.type === 'DELETED') throw new Error(`deployment "${name}" was deleted`);
        if (e.type !== 'ADDED' && e.type !== 'MODIFIED') return;
        progress = rolloutProgress(e.object as DeploymentObject);
        report(progress.message, progress.done);
        if (progress.done) controller.abort();
      }, controller.signal);
      if (progress.done) return;
      if (controller.signal.aborted) {
        if (tty) ctx.out.write('\n');
        throw new Error(`timed out waiting for the condition (deployment "${name}" did not finish rolling out in ${timeoutSeconds}s)`);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** The deployment's replica sets with their revisions, oldest first. */
async function revisions(ctx: CliContext, d: DeploymentObject): Promise<{ revision: number; rs: ReplicaSetObject }[]> {
  const list = await ctx.client.list<ReplicaSetObject>(replicaSets, ctx.namespace);
  return list.items
    .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.uid === d.metadata.uid && o.controller))
    .map((rs) => ({ revision: Number(rs.metadata.annotations?.[revisionAnnotation] ?? 0), rs }))
    .filter((x) => x.revision > 0)
    .sort((a, b) => a.revision - b.revision);
}

export async function rolloutHistory(ctx: CliContext, name: string): Promise<void> {
  const d = await ctx.client.get<DeploymentObject>(deployments, ctx.namespace, name);
  const rows = (await revisions(ctx, d)).map(({ revision, rs }) => [String(revision), rs.metadata.annotations?.[changeCauseAnnotation] ?? '<none>']);
  ctx.print(`${objectRef(deployments, name)} `);
  ctx.print(rows.length ? renderRows(['REVISION', 'CHANGE-CAUSE'], rows) : 'No rollout history found.');
}

export async function rolloutUndo(ctx: CliContext, name: string, toRevision: number): Promise<void> {
  if (!Number.isInteger(toRevision) || toRevision < 0) throw new UsageError('--to-revision must be a whole number');
  const d = await ctx.client.get<DeploymentObject>(deployments, ctx.namespace, name);
  if (d.spec.paused) throw new UsageError(`you cannot rollback a paused deployment; resume it first with 'labctl rollout resume deployment/${name}' and try again`);
  const history = await revisions(ctx, d);
  const target = toRevision === 0 ? history[history.length - 2] : history.find((h) => h.revision === toRevision);
  if (!target) throw new UsageError(toRevision === 0 ? 'no rollout history found for deployment ' + `"${name}"` : `unable to find the specified revision ${toRevision}`);
  const template = structuredClone(target.rs.spec.template!) as KubeObject['spec'] & { metadata?: { labels?: Record<string, string> } };
  delete template.metadata?.labels?.['pod-template-hash'];
  if (deepEqual(template, d.spec.template)) {
    ctx.print(`${objectRef(deployments, name)} skipped rollback (current template already matches revision ${target.revision})`);
    return;
  }
  await ctx.client.patch(deployments, ctx.namespace, name, [
    { op: 'replace', path: '/spec/template', value: template },
    { op: 'test', path: '/metadata/resourceVersion', value: d.metadata.resourceVersion },
  ], 'json');
  ctx.print(`${objectRef(deployments, name)} rolled back`);
}
