// The contract for live usage numbers, which the node agent writes and `labctl top` reads.
// labkube has no metrics-server: the agent measures, and publishes the last sample on the API
// objects themselves, so `top` needs nothing but a GET.
//
// On a Node, annotations (all strings):
//   labkube.io/cpu-usage        CPU in use, in cores: "0.35"
//   labkube.io/memory-usage     memory in use, in bytes: "734003200"
//   labkube.io/cpu-temperature  SoC temperature in degrees Celsius: "51.2"
//   labkube.io/board-model      the board, as the device tree names it: "Raspberry Pi 4 Model B Rev 1.4"
// The architecture is the standard `kubernetes.io/arch` label (status.nodeInfo.architecture too).
//
// On a Pod, one annotation, `labkube.io/usage`, holding JSON:
//   {"containers":[{"name":"web","cpu":0.012,"memory":23461888}]}   (cpu in cores, memory in bytes)
// `top pods` sums the containers; a pod without it shows <unknown>.
import type { KubeObject } from './meta.ts';

export const nodeCpuUsageAnnotation = 'labkube.io/cpu-usage';
export const nodeMemoryUsageAnnotation = 'labkube.io/memory-usage';
export const nodeTemperatureAnnotation = 'labkube.io/cpu-temperature';
export const boardModelAnnotation = 'labkube.io/board-model';
export const podUsageAnnotation = 'labkube.io/usage';

export interface ContainerUsage { name: string; cpu: number; memory: number }
export interface PodUsage { containers: ContainerUsage[] }

const finite = (v: string | undefined): number | undefined => {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};

export interface NodeUsage { cpu?: number; memory?: number; temperature?: number; boardModel?: string; arch?: string }

export function nodeUsage(node: KubeObject): NodeUsage {
  const a = node.metadata.annotations ?? {};
  const arch = node.metadata.labels?.['kubernetes.io/arch'] ?? (node.status as { nodeInfo?: { architecture?: string } } | undefined)?.nodeInfo?.architecture;
  const u: NodeUsage = {};
  const cpu = finite(a[nodeCpuUsageAnnotation]);
  const memory = finite(a[nodeMemoryUsageAnnotation]);
  const temperature = finite(a[nodeTemperatureAnnotation]);
  if (cpu !== undefined) u.cpu = cpu;
  if (memory !== undefined) u.memory = memory;
  if (temperature !== undefined) u.temperature = temperature;
  if (a[boardModelAnnotation]) u.boardModel = a[boardModelAnnotation];
  if (arch) u.arch = arch;
  return u;
}

/** The pod's total usage, or undefined when the agent has not reported (or wrote nonsense). */
export function podUsage(pod: KubeObject): { cpu: number; memory: number } | undefined {
  const text = pod.metadata.annotations?.[podUsageAnnotation];
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<PodUsage>;
    if (!Array.isArray(parsed.containers)) return undefined;
    return parsed.containers.reduce((sum, c) => ({ cpu: sum.cpu + (Number(c.cpu) || 0), memory: sum.memory + (Number(c.memory) || 0) }), { cpu: 0, memory: 0 });
  } catch {
    return undefined; // a malformed sample is shown as unknown rather than failing `top`
  }
}

/** "500m", "2", "1.5" -> cores; "128Mi", "1G", "1048576" -> bytes. Undefined when unparseable. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return undefined;
  const units: Record<string, number> = {
    '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
  };
  const unit = units[m[2]!];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}
