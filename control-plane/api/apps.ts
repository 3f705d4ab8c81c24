// The apps/v1 kinds: ReplicaSet and Deployment, with Kubernetes' defaults.
import { Type, type Static } from '@sinclair/typebox';
import { Condition, Int32, Int64, LabelSelector, kindSchema } from './meta.ts';
import { PodTemplateSpec } from './core.ts';

const IntOrString = Type.Union([Int32(), Type.String()]);

export const ReplicaSet = kindSchema({
  spec: Type.Object({
    replicas: Type.Optional(Int32({ minimum: 0, default: 1 })),
    minReadySeconds: Type.Optional(Int32({ minimum: 0 })),
    selector: LabelSelector,
    template: Type.Optional(PodTemplateSpec),
  }),
  status: Type.Optional(Type.Object({
    replicas: Type.Optional(Int32()),
    fullyLabeledReplicas: Type.Optional(Int32()),
    readyReplicas: Type.Optional(Int32()),
    availableReplicas: Type.Optional(Int32()),
    observedGeneration: Type.Optional(Int64()),
    conditions: Type.Optional(Type.Array(Condition)),
  })),
});
export type ReplicaSet = Static<typeof ReplicaSet>;

export const Deployment = kindSchema({
  spec: Type.Object({
    replicas: Type.Optional(Int32({ minimum: 0, default: 1 })),
    selector: LabelSelector,
    template: PodTemplateSpec,
    strategy: Type.Optional(Type.Object({
      type: Type.Optional(Type.Union([Type.Literal('RollingUpdate'), Type.Literal('Recreate')], { default: 'RollingUpdate' })),
      rollingUpdate: Type.Optional(Type.Object({
        maxSurge: Type.Optional(IntOrString),
        maxUnavailable: Type.Optional(IntOrString),
      })),
    }, { default: {} })),
    minReadySeconds: Type.Optional(Int32({ minimum: 0 })),
    revisionHistoryLimit: Type.Optional(Int32({ minimum: 0, default: 10 })),
    paused: Type.Optional(Type.Boolean()),
    progressDeadlineSeconds: Type.Optional(Int32({ minimum: 1, default: 600 })),
  }),
  status: Type.Optional(Type.Object({
    observedGeneration: Type.Optional(Int64()),
    replicas: Type.Optional(Int32()),
    updatedReplicas: Type.Optional(Int32()),
    readyReplicas: Type.Optional(Int32()),
    availableReplicas: Type.Optional(Int32()),
    unavailableReplicas: Type.Optional(Int32()),
    conditions: Type.Optional(Type.Array(Condition)),
    collisionCount: Type.Optional(Int32()),
  })),
});
export type Deployment = Static<typeof Deployment>;

/** autoscaling/v1 Scale, served by the `scale` subresource of deployments and replicasets. */
export interface Scale {
  apiVersion: 'autoscaling/v1';
  kind: 'Scale';
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string; creationTimestamp?: string | null };
  spec: { replicas: number };
  status: { replicas: number; selector: string };
}
