// coordination.k8s.io/v1 Lease: a node's heartbeat. The store keeps these in memory only.
import { Type, type Static } from '@sinclair/typebox';
import { Int32, kindSchema } from './meta.ts';

export const Lease = kindSchema({
  spec: Type.Optional(Type.Object({
    holderIdentity: Type.Optional(Type.String()),
    leaseDurationSeconds: Type.Optional(Int32({ minimum: 1 })),
    acquireTime: Type.Optional(Type.String()),
    renewTime: Type.Optional(Type.String()),
    leaseTransitions: Type.Optional(Int32({ minimum: 0 })),
  })),
});
export type Lease = Static<typeof Lease>;
