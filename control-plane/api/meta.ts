// Object metadata and the list, status and condition shapes every kind shares, as Kubernetes
// defines them (k8s.io/apimachinery/pkg/apis/meta/v1). Only fields labkube acts on are declared;
// anything else is kept as sent and reported back as an unknown-field warning.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const StringMap = Type.Record(Type.String(), Type.String());

/** Kubernetes' int32 fields (replicas, ports, counts, seconds): Go rejects anything past 2^31-1. */
export const maxInt32 = 2 ** 31 - 1;
export const Int32 = (options: { minimum?: number; maximum?: number; default?: number } = {}) =>
  Type.Integer({ minimum: -(2 ** 31), maximum: maxInt32, ...options });
/** Kubernetes' int64 fields: JSON numbers past 2^53 lose precision, so only safe integers pass. */
export const Int64 = (options: { minimum?: number; maximum?: number; default?: number } = {}) =>
  Type.Integer({ minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, ...options });

export const OwnerReference = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  uid: Type.String(),
  controller: Type.Optional(Type.Boolean()),
  blockOwnerDeletion: Type.Optional(Type.Boolean()),
});
export type OwnerReference = Static<typeof OwnerReference>;

export const ObjectMeta = Type.Object({
  name: Type.Optional(Type.String()),
  generateName: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  generation: Type.Optional(Int64()),
  // Clients such as kubectl send `creationTimestamp: null` for objects they build.
  creationTimestamp: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  deletionTimestamp: Type.Optional(Type.String()),
  deletionGracePeriodSeconds: Type.Optional(Int64()),
  labels: Type.Optional(StringMap),
  annotations: Type.Optional(StringMap),
  ownerReferences: Type.Optional(Type.Array(OwnerReference)),
  finalizers: Type.Optional(Type.Array(Type.String())),
  // Written by kubectl and client libraries; stored as sent, never acted on.
  managedFields: Type.Optional(Type.Array(Type.Unknown())),
});
export type ObjectMeta = Static<typeof ObjectMeta>;

export const Condition = Type.Object({
  type: Type.String(),
  status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')]),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  lastTransitionTime: Type.Optional(Type.String()),
  lastHeartbeatTime: Type.Optional(Type.String()),
  lastProbeTime: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  lastUpdateTime: Type.Optional(Type.String()),
  observedGeneration: Type.Optional(Int64()),
});
export type Condition = Static<typeof Condition>;

export const LabelSelectorRequirement = Type.Object({
  key: Type.String(),
  operator: Type.Union([
    Type.Literal('In'), Type.Literal('NotIn'), Type.Literal('Exists'), Type.Literal('DoesNotExist'),
  ]),
  values: Type.Optional(Type.Array(Type.String())),
});

export const LabelSelector = Type.Object({
  matchLabels: Type.Optional(StringMap),
  matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirement)),
});
export type LabelSelector = Static<typeof LabelSelector>;

/** The envelope every stored object has; `spec` and `status` differ per kind. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

/** Builds a kind's schema: apiVersion, kind and metadata plus the kind's own fields. */
export function kindSchema<P extends Record<string, TSchema>>(fields: P) {
  return Type.Object({
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: ObjectMeta,
    ...fields,
  });
}

export interface ListMeta { resourceVersion: string; continue?: string }

export interface KubeList<T = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: ListMeta;
  items: T[];
}

export interface StatusCause { reason: string; message: string; field?: string }

/** The `Status` object the API returns for every error, as Kubernetes does. */
export interface Status {
  apiVersion: 'v1';
  kind: 'Status';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message: string;
  reason: string;
  code: number;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[] };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent<T = KubeObject> { type: WatchEventType; object: T }
