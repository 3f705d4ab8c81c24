// policy/v1: PodDisruptionBudget, and the Eviction a client posts to pods/NAME/eviction.
// A budget says how many of the pods it selects must stay healthy (minAvailable) or may be down
// (maxUnavailable) while someone drains nodes; evictions honour it, plain deletes do not.
import { Type, type Static } from '@sinclair/typebox';
import { fromLabelSelector, matches } from './labels.ts';
import { Condition, Int32, Int64, LabelSelector, ObjectMeta, kindSchema } from './meta.ts';

const IntOrString = Type.Union([Int32(), Type.String()]);

export const PodDisruptionBudget = kindSchema({
  spec: Type.Optional(Type.Object({
    minAvailable: Type.Optional(IntOrString),
    maxUnavailable: Type.Optional(IntOrString),
    selector: Type.Optional(LabelSelector),
    unhealthyPodEvictionPolicy: Type.Optional(Type.Union([Type.Literal('IfHealthyBudget'), Type.Literal('AlwaysAllow')])),
  }, { default: {} })),
  status: Type.Optional(Type.Object({
    observedGeneration: Type.Optional(Int64()),
    /** Pods evicted but not yet gone, name -> time of the eviction: not counted as healthy meanwhile. */
    disruptedPods: Type.Optional(Type.Record(Type.String(), Type.String())),
    disruptionsAllowed: Type.Optional(Int32()),
    currentHealthy: Type.Optional(Int32()),
    desiredHealthy: Type.Optional(Int32()),
    expectedPods: Type.Optional(Int32()),
    conditions: Type.Optional(Type.Array(Condition)),
  })),
});
export type PodDisruptionBudget = Static<typeof PodDisruptionBudget>;

/** policy/v1: a budget without a selector selects no pod; an empty one ({}) every pod of its namespace. */
export function budgetSelects(budget: { spec?: PodDisruptionBudget['spec'] }, podLabels: Record<string, string>): boolean {
  const selector = budget.spec?.selector;
  return selector !== undefined && matches(fromLabelSelector(selector), podLabels);
}

export const Eviction = Type.Object({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  metadata: Type.Optional(ObjectMeta),
  deleteOptions: Type.Optional(Type.Object({
    gracePeriodSeconds: Type.Optional(Int64()),
    propagationPolicy: Type.Optional(Type.String()),
    preconditions: Type.Optional(Type.Object({ uid: Type.Optional(Type.String()), resourceVersion: Type.Optional(Type.String()) })),
    dryRun: Type.Optional(Type.Array(Type.String())),
  })),
});
export type Eviction = Static<typeof Eviction>;
