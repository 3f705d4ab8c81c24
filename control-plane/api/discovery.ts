// discovery.k8s.io/v1 EndpointSlice: the endpoints of a Service, in slices of at most 100, as
// Kubernetes' EndpointSlice controller writes them and kube-proxy (here: the agent's proxy and
// DNS) reads them. Limits are Kubernetes' validation limits (pkg/apis/discovery/validation).
import { Type, type Static } from '@sinclair/typebox';
import { ObjectReference } from './core.ts';
import { Int32, kindSchema } from './meta.ts';

export const AddressType = Type.Union([Type.Literal('IPv4'), Type.Literal('IPv6'), Type.Literal('FQDN')]);
export type AddressType = Static<typeof AddressType>;

export const EndpointConditions = Type.Object({
  /** Serving and not terminating: where new connections go. */
  ready: Type.Optional(Type.Boolean()),
  /** Passing readiness, terminating or not: a fallback while every endpoint is terminating. */
  serving: Type.Optional(Type.Boolean()),
  terminating: Type.Optional(Type.Boolean()),
});
export type EndpointConditions = Static<typeof EndpointConditions>;

export const Endpoint = Type.Object({
  addresses: Type.Array(Type.String(), { minItems: 1, maxItems: 100 }),
  conditions: Type.Optional(EndpointConditions),
  hostname: Type.Optional(Type.String()),
  targetRef: Type.Optional(ObjectReference),
  nodeName: Type.Optional(Type.String()),
  zone: Type.Optional(Type.String()),
  hints: Type.Optional(Type.Object({
    forZones: Type.Optional(Type.Array(Type.Object({ name: Type.String() }))),
    forNodes: Type.Optional(Type.Array(Type.Object({ name: Type.String() }))),
  })),
});
export type Endpoint = Static<typeof Endpoint>;

export const EndpointPort = Type.Object({
  // Kubernetes defaults both: an unnamed Service port is the name "", the protocol TCP.
  name: Type.Optional(Type.String({ default: '' })),
  protocol: Type.Optional(Type.Union([Type.Literal('TCP'), Type.Literal('UDP'), Type.Literal('SCTP')], { default: 'TCP' })),
  port: Type.Optional(Int32({ minimum: 1, maximum: 65535 })),
  appProtocol: Type.Optional(Type.String()),
});
export type EndpointPort = Static<typeof EndpointPort>;

export const EndpointSlice = kindSchema({
  addressType: AddressType,
  endpoints: Type.Array(Endpoint, { maxItems: 1000 }),
  ports: Type.Optional(Type.Union([Type.Array(EndpointPort, { maxItems: 20000 }), Type.Null()])),
});
export type EndpointSlice = Static<typeof EndpointSlice>;
