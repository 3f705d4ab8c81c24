// The apps/v1 kinds: ReplicaSet and Deployment, with Kubernetes' defaults.
import { Type, type Static } from '@sinclair/typebox';
import { Condition, LabelSelector, kindSchema } from './meta.ts';
import { PodTemplateSpec } from './core.ts';

const IntOrString = Type.Union([Type.Integer(), Type.String()]);

export const ReplicaSet = kindSchema({
  spec: Type.Object({
    replicas: Type.Optional(Type.Integer({ minimum: 0, default: 1 })),
    minReadySeconds: Type.Optional(Type.Integer({ minimum: 0 })),
    selector: LabelSelector,
    template: Type.Optional(PodTemplateSpec),
  }),
  status: Type.Optional(Type.Object({
    replicas: Type.Optional(Type.Integer()),
    fullyLabeledReplicas: Type.Optional(Type.Integer()),
    readyReplicas: Type.Optional(Type.Integer()),
    availableReplicas: Type.Optional(Type.Integer()),
    observedGeneration: Type.Optional(Type.Integer()),
    conditions: Type.Optional(Type.Array(Condition)),
  })),
});
export type ReplicaSet = Static<typeof ReplicaSet>;

export const Deployment = kindSchema({
  spec: Type.Object({
    replicas: Type.Optional(Type.Integer({ minimum: 0, default: 1 })),
    selector: LabelSelector,
    template: PodTemplateSpec,
    strategy: Type.Optional(Type.Object({
      type: Type.Optional(Type.Union([Type.Literal('RollingUpdate'), Type.Literal('Recreate')], { default: 'RollingUpdate' })),
      rollingUpdate: Type.Optional(Type.Object({
        maxSurge: Type.Optional(IntOrString),
        maxUnavailable: Type.Optional(IntOrString),
      })),
    }, { default: {} })),
    minReadySeconds: Type.Optional(Type.Integer({ minimum: 0 })),
    revisionHistoryLimit: Type.Optional(Type.Integer({ minimum: 0, default: 10 })),
    paused: Type.Optional(Type.Boolean()),
    progressDeadlineSeconds: Type.Optional(Type.Integer({ minimum: 1, default: 600 })),
  }),
  status: Type.Optional(Type.Object({
    observedGeneration: Type.Optional(Type.Integer()),
    replicas: Type.Optional(Type.Integer()),
    updatedReplicas: Type.Optional(Type.Integer()),
    readyReplicas: Type.Optional(Type.Integer()),
    availableReplicas: Type.Optional(Type.Integer()),
    unavailableReplicas: Type.Optional(Type.Integer()),
    conditions: Type.Optional(Type.Array(Condition)),
    collisionCount: Type.Optional(Type.Integer()),
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
