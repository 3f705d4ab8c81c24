// The core/v1 kinds labkube serves: Namespace, Node, Pod, Service, Endpoints, Event.
// Defaults are the ones Kubernetes applies (pkg/apis/core/v1/defaults.go) for the fields here.
import { Type, type Static } from '@sinclair/typebox';
import { Condition, Int32, Int64, LabelSelector, ObjectMeta, OwnerReference, StringMap, kindSchema } from './meta.ts';

const IntOrString = Type.Union([Int32(), Type.String()]);
/** A resource quantity such as "250m" or "128Mi"; Kubernetes also accepts a bare number. */
export const Quantity = Type.Union([Type.String(), Type.Number()]);
const ResourceList = Type.Record(Type.String(), Quantity);

export const ContainerPort = Type.Object({
  name: Type.Optional(Type.String()),
  containerPort: Int32({ minimum: 1, maximum: 65535 }),
  hostPort: Type.Optional(Int32({ minimum: 0, maximum: 65535 })),
  hostIP: Type.Optional(Type.String()),
  protocol: Type.Optional(Type.Union([Type.Literal('TCP'), Type.Literal('UDP'), Type.Literal('SCTP')], { default: 'TCP' })),
});

export const EnvVar = Type.Object({ name: Type.String({ minLength: 1 }), value: Type.Optional(Type.String()) });

export const Probe = Type.Object({
  httpGet: Type.Optional(Type.Object({
    path: Type.Optional(Type.String({ default: '/' })),
    port: IntOrString,
    host: Type.Optional(Type.String()),
    scheme: Type.Optional(Type.Union([Type.Literal('HTTP'), Type.Literal('HTTPS')], { default: 'HTTP' })),
    httpHeaders: Type.Optional(Type.Array(Type.Object({ name: Type.String(), value: Type.String() }))),
  })),
  tcpSocket: Type.Optional(Type.Object({ port: IntOrString, host: Type.Optional(Type.String()) })),
  exec: Type.Optional(Type.Object({ command: Type.Array(Type.String()) })),
  initialDelaySeconds: Type.Optional(Int32({ minimum: 0 })),
  periodSeconds: Type.Optional(Int32({ minimum: 1, default: 10 })),
  timeoutSeconds: Type.Optional(Int32({ minimum: 1, default: 1 })),
  successThreshold: Type.Optional(Int32({ minimum: 1, default: 1 })),
  failureThreshold: Type.Optional(Int32({ minimum: 1, default: 3 })),
});
export type Probe = Static<typeof Probe>;

export const Container = Type.Object({
  name: Type.String({ minLength: 1 }),
  image: Type.String({ minLength: 1 }),
  command: Type.Optional(Type.Array(Type.String())),
  args: Type.Optional(Type.Array(Type.String())),
  workingDir: Type.Optional(Type.String()),
  stdin: Type.Optional(Type.Boolean()),
  stdinOnce: Type.Optional(Type.Boolean()),
  tty: Type.Optional(Type.Boolean()),
  env: Type.Optional(Type.Array(EnvVar)),
  ports: Type.Optional(Type.Array(ContainerPort)),
  resources: Type.Optional(Type.Object({
    limits: Type.Optional(ResourceList),
    requests: Type.Optional(ResourceList),
  })),
  imagePullPolicy: Type.Optional(Type.Union([Type.Literal('Always'), Type.Literal('IfNotPresent'), Type.Literal('Never')])),
  livenessProbe: Type.Optional(Probe),
  readinessProbe: Type.Optional(Probe),
  startupProbe: Type.Optional(Probe),
  terminationMessagePath: Type.Optional(Type.String({ default: '/dev/termination-log' })),
  terminationMessagePolicy: Type.Optional(Type.String({ default: 'File' })),
});
export type Container = Static<typeof Container>;

const NodeSelectorRequirement = Type.Object({
  key: Type.String(),
  operator: Type.Union([Type.Literal('In'), Type.Literal('NotIn'), Type.Literal('Exists'), Type.Literal('DoesNotExist'),
    Type.Literal('Gt'), Type.Literal('Lt')]),
  values: Type.Optional(Type.Array(Type.String())),
});
export type NodeSelectorRequirement = Static<typeof NodeSelectorRequirement>;

export const Toleration = Type.Object({
  key: Type.Optional(Type.String()),
  operator: Type.Optional(Type.Union([Type.Literal('Equal'), Type.Literal('Exists')])),
  value: Type.Optional(Type.String()),
  effect: Type.Optional(Type.Union([Type.Literal('NoSchedule'), Type.Literal('PreferNoSchedule'), Type.Literal('NoExecute'), Type.Literal('')])),
  tolerationSeconds: Type.Optional(Int64()),
});
export type Toleration = Static<typeof Toleration>;

export const PodSpec = Type.Object({
  containers: Type.Array(Container, { minItems: 1 }),
  restartPolicy: Type.Optional(Type.Union([Type.Literal('Always'), Type.Literal('OnFailure'), Type.Literal('Never')], { default: 'Always' })),
  terminationGracePeriodSeconds: Type.Optional(Int64({ minimum: 0, default: 30 })),
  activeDeadlineSeconds: Type.Optional(Int64({ minimum: 1 })),
  nodeName: Type.Optional(Type.String()),
  nodeSelector: Type.Optional(StringMap),
  affinity: Type.Optional(Type.Object({
    nodeAffinity: Type.Optional(Type.Object({
      requiredDuringSchedulingIgnoredDuringExecution: Type.Optional(Type.Object({
        nodeSelectorTerms: Type.Array(Type.Object({
          matchExpressions: Type.Optional(Type.Array(NodeSelectorRequirement)),
          matchFields: Type.Optional(Type.Array(NodeSelectorRequirement)),
        })),
      })),
    })),
  })),
  tolerations: Type.Optional(Type.Array(Toleration)),
  schedulerName: Type.Optional(Type.String({ default: 'default-scheduler' })),
  dnsPolicy: Type.Optional(Type.String({ default: 'ClusterFirst' })),
  hostNetwork: Type.Optional(Type.Boolean()),
});
export type PodSpec = Static<typeof PodSpec>;

const ContainerState = Type.Object({
  waiting: Type.Optional(Type.Object({ reason: Type.Optional(Type.String()), message: Type.Optional(Type.String()) })),
  running: Type.Optional(Type.Object({ startedAt: Type.Optional(Type.String()) })),
  terminated: Type.Optional(Type.Object({
    exitCode: Int32(), signal: Type.Optional(Int32()), reason: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()), startedAt: Type.Optional(Type.String()),
    finishedAt: Type.Optional(Type.String()), containerID: Type.Optional(Type.String()),
  })),
});
export type ContainerState = Static<typeof ContainerState>;

export const ContainerStatus = Type.Object({
  name: Type.String(),
  state: Type.Optional(ContainerState),
  lastState: Type.Optional(ContainerState),
  ready: Type.Boolean(),
  started: Type.Optional(Type.Boolean()),
  restartCount: Int32({ minimum: 0 }),
  image: Type.String(),
  imageID: Type.String(),
  containerID: Type.Optional(Type.String()),
});
export type ContainerStatus = Static<typeof ContainerStatus>;

export const PodPhase = Type.Union([Type.Literal('Pending'), Type.Literal('Running'), Type.Literal('Succeeded'),
  Type.Literal('Failed'), Type.Literal('Unknown')]);
export type PodPhase = Static<typeof PodPhase>;

export const Pod = kindSchema({
  spec: PodSpec,
  status: Type.Optional(Type.Object({
    phase: Type.Optional(PodPhase),
    conditions: Type.Optional(Type.Array(Condition)),
    message: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    hostIP: Type.Optional(Type.String()),
    podIP: Type.Optional(Type.String()),
    podIPs: Type.Optional(Type.Array(Type.Object({ ip: Type.String() }))),
    startTime: Type.Optional(Type.String()),
    containerStatuses: Type.Optional(Type.Array(ContainerStatus)),
    qosClass: Type.Optional(Type.String()),
  })),
});
export type Pod = Static<typeof Pod>;

export const PodTemplateSpec = Type.Object({
  metadata: Type.Optional(ObjectMeta),
  spec: PodSpec,
});
export type PodTemplateSpec = Static<typeof PodTemplateSpec>;

export const Taint = Type.Object({
  key: Type.String({ minLength: 1 }),
  value: Type.Optional(Type.String()),
  effect: Type.Union([Type.Literal('NoSchedule'), Type.Literal('PreferNoSchedule'), Type.Literal('NoExecute')]),
  timeAdded: Type.Optional(Type.String()),
});
export type Taint = Static<typeof Taint>;

export const Node = kindSchema({
  spec: Type.Optional(Type.Object({
    unschedulable: Type.Optional(Type.Boolean()),
    taints: Type.Optional(Type.Array(Taint)),
    podCIDR: Type.Optional(Type.String()),
    // Written by the node IPAM controller; podCIDRs[0] is podCIDR, as in Kubernetes.
    podCIDRs: Type.Optional(Type.Array(Type.String())),
    providerID: Type.Optional(Type.String()),
  })),
  status: Type.Optional(Type.Object({
    capacity: Type.Optional(ResourceList),
    allocatable: Type.Optional(ResourceList),
    conditions: Type.Optional(Type.Array(Condition)),
    addresses: Type.Optional(Type.Array(Type.Object({ type: Type.String(), address: Type.String() }))),
    daemonEndpoints: Type.Optional(Type.Object({
      kubeletEndpoint: Type.Optional(Type.Object({ Port: Int32({ minimum: 0, maximum: 65535 }) })),
    })),
    // Every field is required in Kubernetes' NodeSystemInfo (the official clients' models refuse
    // a Node without one), so a missing one is written as "", as Go's encoder would.
    nodeInfo: Type.Optional(Type.Object(Object.fromEntries(['architecture', 'operatingSystem', 'osImage', 'kernelVersion',
      'containerRuntimeVersion', 'kubeletVersion', 'kubeProxyVersion', 'machineID', 'systemUUID', 'bootID']
      .map((f) => [f, Type.Optional(Type.String({ default: '' }))])))),
    images: Type.Optional(Type.Array(Type.Object({
      names: Type.Array(Type.String()),
      sizeBytes: Type.Optional(Int64({ minimum: 0 })),
    }))),
  })),
});
export type Node = Static<typeof Node>;

export const Namespace = kindSchema({
  spec: Type.Optional(Type.Object({ finalizers: Type.Optional(Type.Array(Type.String())) })),
  status: Type.Optional(Type.Object({
    phase: Type.Optional(Type.Union([Type.Literal('Active'), Type.Literal('Terminating')])),
  })),
});
export type Namespace = Static<typeof Namespace>;

export const ServicePort = Type.Object({
  name: Type.Optional(Type.String()),
  protocol: Type.Optional(Type.Union([Type.Literal('TCP'), Type.Literal('UDP'), Type.Literal('SCTP')], { default: 'TCP' })),
  appProtocol: Type.Optional(Type.String()),
  port: Int32({ minimum: 1, maximum: 65535 }),
  targetPort: Type.Optional(IntOrString),
  nodePort: Type.Optional(Int32({ minimum: 0, maximum: 65535 })),
});
export type ServicePort = Static<typeof ServicePort>;

const serviceTypes = [Type.Literal('ClusterIP'), Type.Literal('NodePort'), Type.Literal('LoadBalancer'), Type.Literal('ExternalName')];
const TrafficPolicy = Type.Union([Type.Literal('Cluster'), Type.Literal('Local')]);

export const ServiceSpec = Type.Object({
  type: Type.Optional(Type.Union(serviceTypes, { default: 'ClusterIP' })),
  selector: Type.Optional(StringMap),
  ports: Type.Optional(Type.Array(ServicePort)),
  // Allocated by the API server from the service CIDR unless the client asks for one, or `None`.
  clusterIP: Type.Optional(Type.String()),
  clusterIPs: Type.Optional(Type.Array(Type.String())),
  ipFamilies: Type.Optional(Type.Array(Type.Union([Type.Literal('IPv4'), Type.Literal('IPv6')]))),
  ipFamilyPolicy: Type.Optional(Type.Union([Type.Literal('SingleStack'), Type.Literal('PreferDualStack'), Type.Literal('RequireDualStack')])),
  externalName: Type.Optional(Type.String()),
  externalIPs: Type.Optional(Type.Array(Type.String())),
  externalTrafficPolicy: Type.Optional(TrafficPolicy),
  internalTrafficPolicy: Type.Optional(TrafficPolicy),
  publishNotReadyAddresses: Type.Optional(Type.Boolean()),
  sessionAffinity: Type.Optional(Type.Union([Type.Literal('None'), Type.Literal('ClientIP')], { default: 'None' })),
  loadBalancerIP: Type.Optional(Type.String()),
});
export type ServiceSpec = Static<typeof ServiceSpec>;

export const Service = kindSchema({
  spec: ServiceSpec,
  status: Type.Optional(Type.Object({
    loadBalancer: Type.Optional(Type.Object({
      ingress: Type.Optional(Type.Array(Type.Object({
        ip: Type.Optional(Type.String()),
        hostname: Type.Optional(Type.String()),
        ipMode: Type.Optional(Type.String()),
        ports: Type.Optional(Type.Array(Type.Object({
          port: Int32({ minimum: 1, maximum: 65535 }),
          protocol: Type.Optional(Type.String()),
          error: Type.Optional(Type.String()),
        }))),
      }))),
    })),
    conditions: Type.Optional(Type.Array(Condition)),
  })),
});
export type Service = Static<typeof Service>;

const EndpointAddress = Type.Object({
  ip: Type.String(),
  hostname: Type.Optional(Type.String()),
  nodeName: Type.Optional(Type.String()),
  targetRef: Type.Optional(Type.Object({
    kind: Type.Optional(Type.String()), namespace: Type.Optional(Type.String()), name: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()), resourceVersion: Type.Optional(Type.String()),
  })),
});

export const Endpoints = kindSchema({
  subsets: Type.Optional(Type.Array(Type.Object({
    addresses: Type.Optional(Type.Array(EndpointAddress)),
    notReadyAddresses: Type.Optional(Type.Array(EndpointAddress)),
    ports: Type.Optional(Type.Array(Type.Object({
      name: Type.Optional(Type.String()), port: Int32({ minimum: 1, maximum: 65535 }), protocol: Type.Optional(Type.String()),
    }))),
  }))),
});
export type Endpoints = Static<typeof Endpoints>;

export const ObjectReference = Type.Object({
  kind: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  apiVersion: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  fieldPath: Type.Optional(Type.String()),
});
export type ObjectReference = Static<typeof ObjectReference>;

export const Event = kindSchema({
  involvedObject: ObjectReference,
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  type: Type.Optional(Type.String({ default: 'Normal' })),
  count: Type.Optional(Int32({ minimum: 0 })),
  firstTimestamp: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  lastTimestamp: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  eventTime: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  source: Type.Optional(Type.Object({ component: Type.Optional(Type.String()), host: Type.Optional(Type.String()) })),
  reportingComponent: Type.Optional(Type.String()),
  reportingInstance: Type.Optional(Type.String()),
  action: Type.Optional(Type.String()),
});
export type Event = Static<typeof Event>;

/** Configuration as key-value pairs: files or environment for pods (`data` text, `binaryData` base64). */
export const ConfigMap = kindSchema({
  data: Type.Optional(StringMap),
  binaryData: Type.Optional(StringMap),
  immutable: Type.Optional(Type.Boolean()),
});
export type ConfigMap = Static<typeof ConfigMap>;

/**
 * Like a ConfigMap, for credentials: `data` values are base64. `stringData` is write-only plain
 * text that the server folds into `data`.
 */
export const Secret = kindSchema({
  type: Type.Optional(Type.String({ default: 'Opaque' })),
  data: Type.Optional(StringMap),
  stringData: Type.Optional(StringMap),
  immutable: Type.Optional(Type.Boolean()),
});
export type Secret = Static<typeof Secret>;

export { LabelSelector, OwnerReference };
