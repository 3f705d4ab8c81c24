// Live usage: what the agents measure and push, and what the metrics API (`metrics.k8s.io`,
// apiserver/metrics-api.ts) serves to `kubectl top`, `labctl top` and the dashboard.
//
// Usage changes every time it is measured, so it never touches the store: a board's SD card (or
// the control plane's) would wear out rewriting a Node each minute for a number nobody keeps.
// The agent PUTs a UsageReport to /labkube/v1/nodes/NAME/metrics; the API server keeps the last
// one per node in memory and forgets it once the agent misses three pushes.
//
// What stays on the Node is what does not change while the agent runs: the board's model as an
// annotation (below), the architecture as the standard `kubernetes.io/arch` label.
import { Type, type Static } from '@sinclair/typebox';

/** Node annotation: the board, as the device tree names it: "Raspberry Pi 4 Model B". */
export const boardModelAnnotation = 'labkube.io/board-model';
/** NodeMetrics annotation (not on the Node: it changes with every sample): SoC temperature in °C, "51.2". */
export const cpuTemperatureAnnotation = 'labkube.io/cpu-temperature';

export const metricsGroup = 'metrics.k8s.io';
export const metricsVersion = 'v1beta1';
export const metricsApiVersion = `${metricsGroup}/${metricsVersion}`;
/** The route an agent pushes its report to. */
export const usageReportPath = (nodeName: string) => `/labkube/v1/nodes/${encodeURIComponent(nodeName)}/metrics`;

// Bounds a report must stay in: a node runs at most a few hundred pods (Kubernetes' default
// max-pods is 110), a pod a few dozen containers; past these a report is a bug or an attack.
const maxPodsPerReport = 1000;
const maxContainersPerPod = 100;
/** Nanocores and bytes: finite, not negative, below 2^53. */
const Amount = Type.Number({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Name = Type.String({ minLength: 1, maxLength: 253 });

export const ContainerUsage = Type.Object({
  name: Name,
  /** CPU in nanocores (a billionth of a core), averaged over the report's window. */
  cpuNanoCores: Amount,
  /** Working set: memory in use less the inactive file cache, as the kubelet counts it. */
  memoryBytes: Amount,
});
export type ContainerUsage = Static<typeof ContainerUsage>;

export const PodUsage = Type.Object({
  namespace: Name,
  name: Name,
  /** The pod the containers belong to: a pod deleted and made again under the same name is another pod. */
  uid: Type.String({ minLength: 1, maxLength: 128 }),
  containers: Type.Array(ContainerUsage, { maxItems: maxContainersPerPod }),
});
export type PodUsage = Static<typeof PodUsage>;

export const UsageReport = Type.Object({
  /** Seconds the CPU figures average over (the time between the two samples they come from). */
  windowSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
  /** How often the agent pushes; the server forgets the report after three missed pushes. */
  intervalSeconds: Type.Number({ minimum: 1, maximum: 600 }),
  node: Type.Object({
    cpuNanoCores: Amount,
    memoryBytes: Amount,
    cpuTemperature: Type.Optional(Type.Number({ minimum: -100, maximum: 300 })),
  }),
  pods: Type.Array(PodUsage, { maxItems: maxPodsPerReport }),
});
export type UsageReport = Static<typeof UsageReport>;

/** What the server answers a push with: pods it did not keep (not bound to the node, or gone). */
export interface UsageReportAnswer { kind: 'UsageReportAnswer'; acceptedPods: number; ignoredPods: string[] }

// --- metrics.k8s.io/v1beta1, as metrics-server serves it (k8s.io/metrics/pkg/apis/metrics/v1beta1)

export interface ResourceUsage { cpu: string; memory: string }
export interface MetricsMeta { name: string; namespace?: string; creationTimestamp: string; labels?: Record<string, string>; annotations?: Record<string, string> }
export interface NodeMetrics { kind: 'NodeMetrics'; apiVersion: string; metadata: MetricsMeta; timestamp: string; window: string; usage: ResourceUsage }
export interface ContainerMetrics { name: string; usage: ResourceUsage }
export interface PodMetrics { kind: 'PodMetrics'; apiVersion: string; metadata: MetricsMeta; timestamp: string; window: string; containers: ContainerMetrics[] }
export interface MetricsList<T> { kind: string; apiVersion: string; metadata: Record<string, never>; items: T[] }

/** CPU as metrics-server writes it: whole nanocores, "329087452n". */
export const cpuQuantity = (nanoCores: number) => `${Math.round(nanoCores)}n`;
/** Memory as metrics-server writes it: whole kibibytes, "2748180Ki". */
export const memoryQuantity = (bytes: number) => `${Math.round(bytes / 1024)}Ki`;
/** A Go duration, as the `window` field is written: "15s", "14.982s". */
export const durationString = (seconds: number) => `${Number(seconds.toFixed(3))}s`;
export const usageOf = (cpuNanoCores: number, memoryBytes: number): ResourceUsage => ({ cpu: cpuQuantity(cpuNanoCores), memory: memoryQuantity(memoryBytes) });
