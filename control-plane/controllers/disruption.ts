// The disruption controller: keeps each PodDisruptionBudget's status current, as Kubernetes'
// pkg/controller/disruption does, so that evictions (apiserver/eviction.ts) can decide from the
// status alone. For a budget it counts the pods its selector picks:
//  - expectedPods: how many there should be. With an integer minAvailable, the pods that exist;
//    with a percentage or maxUnavailable, the replicas their controllers ask for (a pod's
//    ReplicaSet, or the Deployment above it), since a pod that is missing is also unavailable.
//  - desiredHealthy: how many must stay Ready. currentHealthy: how many are Ready now, not being
//    deleted and not just evicted (status.disruptedPods, until the pod is gone or 2 minutes pass).
//  - disruptionsAllowed = currentHealthy - desiredHealthy, never below 0.
import type { Logger } from 'pino';
import type { KubeObject } from '../api/meta.ts';
import { deepEqual, setCondition, timestamp } from '../api/objects.ts';
import { budgetSelects, type PodDisruptionBudget } from '../api/policy.ts';
import { resourceFor } from '../api/resources.ts';
import type { KubeClient } from '../client/client.ts';
import { objectKey } from '../client/informer.ts';
import { WorkQueue } from '../client/workqueue.ts';
import { scaledValue, type DeploymentObject } from './deployment-rollout.ts';
import { controllerOf, isPodReady, type InformerLike, type PodObject } from './pod-template.ts';
import type { ReplicaSetObject } from './replicaset.ts';
import { runWorkers, type SyncResult } from './runner.ts';

export type BudgetObject = PodDisruptionBudget & KubeObject;
type BudgetStatus = NonNullable<PodDisruptionBudget['status']>;

const budgets = resourceFor('policy', 'poddisruptionbudgets')!;
/** Kubernetes' DeletionTimeout: an eviction whose pod is not gone by then no longer holds a disruption. */
export const disruptedPodTimeoutMs = 2 * 60_000;

export interface DisruptionControllerOptions {
  client: Pick<KubeClient, 'update'>;
  budgets: InformerLike<BudgetObject>;
  pods: InformerLike<PodObject>;
  replicaSets: InformerLike<ReplicaSetObject>;
  deployments: InformerLike<DeploymentObject>;
  logger?: Logger;
  now?: () => Date;
}


export class DisruptionController {
  readonly queue = new WorkQueue();
  private readonly now: () => Date;

  constructor(private readonly o: DisruptionControllerOptions) {
    this.now = o.now ?? (() => new Date());
    const budgetChanged = (b: BudgetObject) => this.queue.add(objectKey(b));
    o.budgets.on({ add: budgetChanged, update: (_old, b) => budgetChanged(b), delete: budgetChanged });
    const podChanged = (pod: PodObject) => { for (const b of this.budgetsSelecting(pod)) this.queue.add(objectKey(b)); };
    o.pods.on({ add: podChanged, update: (old, pod) => { podChanged(old); podChanged(pod); }, delete: podChanged });
    // A scale changes expectedPods of the budgets over that namespace.
    const scaled = (obj: KubeObject) => {
      for (const b of o.budgets.list()) if (b.metadata.namespace === obj.metadata.namespace) this.queue.add(objectKey(b));
    };
    o.replicaSets.on({ add: scaled, update: (_old, rs) => scaled(rs), delete: scaled });
    o.deployments.on({ add: scaled, update: (_old, d) => scaled(d), delete: scaled });
  }

  async run(): Promise<void> {
    await Promise.all([this.o.budgets.waitForSync(), this.o.pods.waitForSync(), this.o.replicaSets.waitForSync(), this.o.deployments.waitForSync()]);
    await runWorkers(this.queue, 1, (key) => this.sync(key), this.o.logger);
  }

  stop(): void { this.queue.shutDown(); }

  async sync(key: string): Promise<SyncResult> {
    const budget = this.o.budgets.get(key);
    if (!budget) return {};
    const pods = this.o.pods.list().filter((p) => p.metadata.namespace === budget.metadata.namespace && selects(budget, p));
    const now = this.now();
    const { status, recheckMs } = budgetStatus(budget, pods, (ref) => this.scaleOf(budget.metadata.namespace!, ref), now);
    if (!deepEqual(withoutTimes(status), withoutTimes(budget.status ?? {}))) {
      await this.o.client.update(budgets, { ...budget, status: { ...status, conditions: setCondition(budget.status?.conditions, status.conditions![0]!, timestamp(now)) } }, 'status');
    }
    return recheckMs !== undefined ? { requeueAfterMs: recheckMs } : {};
  }

  private budgetsSelecting(pod: PodObject): BudgetObject[] {
    return this.o.budgets.list().filter((b) => b.metadata.namespace === pod.metadata.namespace && selects(b, pod));
  }

  /** The replicas a pod's controller asks for: a ReplicaSet's, or its Deployment's when one owns it. */
  private scaleOf(namespace: string, ref: { kind: string; name: string }): number | undefined {
    if (ref.kind !== 'ReplicaSet') return undefined;
    const rs = this.o.replicaSets.get(`${namespace}/${ref.name}`);
    if (!rs) return undefined;
    const owner = controllerOf(rs);
    if (owner?.kind === 'Deployment') {
      const d = this.o.deployments.get(`${namespace}/${owner.name}`);
      if (d) return d.spec.replicas ?? 1;
    }
    return rs.spec.replicas ?? 1;
  }
}

const selects = (budget: BudgetObject, pod: PodObject): boolean => budgetSelects(budget, pod.metadata.labels ?? {});

const withoutTimes = (s: BudgetStatus) => ({ ...s, conditions: s.conditions?.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })) });

/** The status a budget should have, and when to look again (an eviction record expiring). */
export function budgetStatus(budget: BudgetObject, pods: PodObject[], scaleOf: (ref: { kind: string; name: string }) => number | undefined,
  now: Date): { status: BudgetStatus; recheckMs?: number } {
  const spec = budget.spec ?? {};
  const byName = new Map(pods.map((p) => [p.metadata.name!, p]));
  // Evictions still in flight: the pod exists, is not yet being deleted, and the record is fresh.
  const disrupted: Record<string, string> = {};
  let recheckMs: number | undefined;
  for (const [name, at] of Object.entries(budget.status?.disruptedPods ?? {})) {
    const pod = byName.get(name);
    const left = Date.parse(at) + disruptedPodTimeoutMs - now.getTime();
    if (!pod || pod.metadata.deletionTimestamp || left <= 0) continue;
    disrupted[name] = at;
    recheckMs = Math.min(recheckMs ?? left, left);
  }
  const currentHealthy = pods.filter((p) => isPodReady(p) && !p.metadata.deletionTimestamp && !(p.metadata.name! in disrupted)).length;

  let expectedPods = pods.length;
  let desiredHealthy: number;
  const needsScale = spec.maxUnavailable !== undefined || typeof spec.minAvailable === 'string';
  if (needsScale) {
    // Each controller counted once, with the replicas it wants; a pod without one counts as itself.
    const controllers = new Map<string, number>();
    let bare = 0;
    for (const pod of pods) {
      const ref = controllerOf(pod);
      const scale = ref ? scaleOf(ref) : undefined;
      if (ref && scale !== undefined) controllers.set(`${ref.kind}/${ref.name}`, scale);
      else bare++;
    }
    expectedPods = bare + [...controllers.values()].reduce((a, b) => a + b, 0);
  }
  if (spec.maxUnavailable !== undefined) {
    const max = scaledValue(spec.maxUnavailable, expectedPods, true);
    desiredHealthy = Math.max(0, expectedPods - max);
  } else if (typeof spec.minAvailable === 'string') {
    desiredHealthy = scaledValue(spec.minAvailable, expectedPods, true);
  } else {
    desiredHealthy = spec.minAvailable ?? 1; // neither set: minAvailable 1, policy/v1beta1's default
  }
  const disruptionsAllowed = expectedPods <= 0 ? 0 : Math.max(0, currentHealthy - desiredHealthy);
  const condition = disruptionsAllowed > 0
    ? { type: 'DisruptionAllowed', status: 'True' as const, reason: 'SufficientPods', message: '' }
    : { type: 'DisruptionAllowed', status: 'False' as const, reason: 'InsufficientPods', message: '' };
  return {
    status: {
      observedGeneration: budget.metadata.generation ?? 1,
      ...(Object.keys(disrupted).length > 0 && { disruptedPods: disrupted }),
      disruptionsAllowed, currentHealthy, desiredHealthy, expectedPods,
      conditions: [{ ...condition, lastTransitionTime: '' }],
    },
    ...(recheckMs !== undefined && { recheckMs }),
  };
}
