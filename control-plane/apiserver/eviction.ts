// POST pods/NAME/eviction: a delete that asks the pod's PodDisruptionBudget first, as
// Kubernetes' pkg/registry/core/pod/storage/eviction.go does. `kubectl drain` evicts, and on a
// 429 waits and tries again, so a drain can never take more of a Deployment down at once than
// its budget allows.
//
//  - A pod that is finished, not yet running or already being deleted is deleted at once: it
//    counts toward no budget.
//  - No budget selects the pod: deleted. More than one: refused (Kubernetes does the same; which
//    one would win is not defined).
//  - The budget's status must be current (observedGeneration): else 429, try again soon.
//  - A pod that is not Ready may go when the budget is met anyway (IfHealthyBudget, the default)
//    or always (AlwaysAllow), without using up the budget.
//  - Otherwise disruptionsAllowed must be above zero: it is decremented and the pod recorded in
//    status.disruptedPods in the same turn of the event loop that deletes the pod, so two
//    evictions racing for the last allowed disruption cannot both win.
import { BadRequestError, InternalError, TooManyRequestsError } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { findCondition, timestamp } from '../api/objects.ts';
import { budgetSelects, type Eviction, type PodDisruptionBudget } from '../api/policy.ts';
import { resourceFor } from '../api/resources.ts';
import type { DeleteOptions, Registry } from './registry.ts';

const pods = resourceFor('', 'pods')!;
const budgets = resourceFor('policy', 'poddisruptionbudgets')!;

type Budget = PodDisruptionBudget & KubeObject;
type PodLike = KubeObject & { status?: { phase?: string; conditions?: { type: string; status: string }[] } };

const violation = "Cannot evict pod as it would violate the pod's disruption budget.";

function tooManyRequests(budget: Budget, message: string): TooManyRequestsError {
  const err = new TooManyRequestsError(violation);
  return Object.assign(err, { details: { causes: [{ reason: 'DisruptionBudget', message: message.replace('%s', budget.metadata.name!) }] } });
}

const isReady = (pod: PodLike) => findCondition(pod.status?.conditions as never, 'Ready')?.status === 'True';

/** Evicts the pod; returns when it is deleted (or its graceful deletion has begun). */
export function evict(registry: Registry, namespace: string, name: string, body: unknown): void {
  const eviction = body as Eviction;
  if (eviction === null || typeof eviction !== 'object' || Array.isArray(eviction)) throw new BadRequestError('the body of an eviction must be an Eviction object');
  // Kubernetes decodes the body as a policy Eviction: any other kind (a Pod, a DeleteOptions) is refused.
  if (eviction.kind !== 'Eviction' || !['policy/v1', 'policy/v1beta1'].includes(eviction.apiVersion ?? '')) {
    throw new BadRequestError(`the body of an eviction must be a policy/v1 Eviction, got ${JSON.stringify(eviction.apiVersion ?? '')} ${JSON.stringify(eviction.kind ?? '')}`);
  }
  if (eviction.metadata?.name !== undefined && eviction.metadata.name !== name) {
    throw new BadRequestError(`name in URL does not match name in Eviction object: ${name} != ${eviction.metadata.name}`);
  }
  const options: DeleteOptions = {
    ...(eviction.deleteOptions?.gracePeriodSeconds !== undefined && { gracePeriodSeconds: eviction.deleteOptions.gracePeriodSeconds }),
    ...(eviction.deleteOptions?.preconditions && { preconditions: eviction.deleteOptions.preconditions }),
    dryRun: (eviction.deleteOptions?.dryRun?.length ?? 0) > 0,
  };
  const pod = registry.get(pods, namespace, name) as PodLike;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || pod.metadata.deletionTimestamp) {
    registry.delete(pods, namespace, name, options);
    return;
  }
  const labels = pod.metadata.labels ?? {};
  const selecting = (registry.list(budgets, namespace).items as Budget[]).filter((b) => budgetSelects(b, labels));
  if (selecting.length === 0) {
    registry.delete(pods, namespace, name, options);
    return;
  }
  if (selecting.length > 1) {
    throw new InternalError('This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
  }
  const budget = selecting[0]!;
  const status = budget.status ?? {};
  if ((status.observedGeneration ?? 0) < (budget.metadata.generation ?? 1)) {
    throw tooManyRequests(budget, 'The disruption budget %s is still being processed by the server.');
  }
  if (!isReady(pod)) {
    const policy = budget.spec?.unhealthyPodEvictionPolicy ?? 'IfHealthyBudget';
    if (policy === 'AlwaysAllow' || (status.currentHealthy ?? 0) >= (status.desiredHealthy ?? 0)) {
      registry.delete(pods, namespace, name, options);
      return;
    }
  }
  const allowed = status.disruptionsAllowed ?? 0;
  if (allowed <= 0) {
    throw tooManyRequests(budget, `The disruption budget %s needs ${status.desiredHealthy ?? 0} healthy pods and has ${status.currentHealthy ?? 0} currently`);
  }
  if ((status.disruptedPods && Object.keys(status.disruptedPods).length > 2000)) {
    throw new TooManyRequestsError('DisruptedPods map too big - too many evictions not confirmed by PDB controller');
  }
  if (options.dryRun) return;
  const next = structuredClone(budget);
  next.status = { ...status, disruptionsAllowed: allowed - 1, disruptedPods: { ...status.disruptedPods, [name]: timestamp(registry.clock()) } };
  registry.update(budgets, namespace, budget.metadata.name!, next as KubeObject, 'status');
  registry.delete(pods, namespace, name, options);
}
