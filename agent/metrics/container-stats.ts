// Per-container CPU and memory counters from the Docker engine, for the metrics the agent pushes
// (metrics-pusher.ts). One `GET /containers/ID/stats?stream=false&one-shot=true` per running pod
// container: the engine reads the cgroup once and answers at once (without one-shot it waits a
// second for a second reading). The CPU counter is cumulative; usage-sampler.ts turns two
// readings into a rate over the push interval, as metrics-server does with the kubelet's.
//
// Kept apart from runtime/docker.ts on purpose: the pod worker's runtime is what starting and
// stopping pods needs, and reading counters is neither. This reader has its own dockerode client
// on the same socket, and is replaced by a fake in tests.
import Docker from 'dockerode';
import { labelKeys, sandboxContainerName } from '../runtime/types.ts';

/** One container's counters at one moment. */
export interface ContainerReading {
  namespace: string; pod: string; uid: string; container: string;
  /** The engine's container ID: a restarted container starts its counter again. */
  id: string;
  /** Cumulative CPU time in nanoseconds since the container started. */
  cpuUsageNs: number;
  /** Memory in use less the inactive file cache (the kubelet's working set). */
  memoryWorkingSetBytes: number;
  /** When the engine read the counters, epoch ms (the engine's clock is the board's clock). */
  readAtMs: number;
  /** When the engine created the container, epoch ms (Docker's list gives creation, a moment before the start). */
  createdAtMs?: number;
}

export interface ContainerStatsSource {
  /** The counters of every running pod container of `nodeName`; a container that fails to answer is left out. */
  read(nodeName: string): Promise<ContainerReading[]>;
}

/** What the engine's stats answer holds that is read here (cgroup v1 and v2). */
export interface EngineStats {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; stats?: Record<string, number | undefined> };
}

// At most this many stats calls at once: each is a cgroup read in the engine, and a board with
// 40 pods should not open 40 sockets at once every push.
const parallelReads = 4;
// A stats call answers in milliseconds; one that hangs (an engine under load) is left out of
// this push rather than holding the next one back.
const readTimeoutMs = 5_000;

/** Working set as Docker's CLI and the kubelet compute it: usage less inactive file pages, never below 0. */
export function workingSetBytes(memory: EngineStats['memory_stats']): number | undefined {
  if (memory?.usage === undefined) return undefined;
  const inactive = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? 0; // v1, else v2
  return Math.max(0, memory.usage - (inactive < memory.usage ? inactive : 0));
}

/** A reading from the engine's answer; undefined when it lacks the counters (a container that just stopped). */
export function readingFrom(labels: Record<string, string>, id: string, stats: EngineStats, now: number, createdAtMs?: number): ContainerReading | undefined {
  const cpu = stats.cpu_stats?.cpu_usage?.total_usage;
  const memory = workingSetBytes(stats.memory_stats);
  const namespace = labels[labelKeys.namespace];
  const pod = labels[labelKeys.pod];
  const uid = labels[labelKeys.uid];
  const container = labels[labelKeys.container];
  if (cpu === undefined || memory === undefined || !namespace || !pod || !uid || !container) return undefined;
  const read = stats.read ? Date.parse(stats.read) : NaN;
  // A stopped container answers with a zero time ("0001-01-01T00:00:00Z"): use ours.
  const readAtMs = Number.isFinite(read) && read > 0 ? read : now;
  return { namespace, pod, uid, container, id, cpuUsageNs: cpu, memoryWorkingSetBytes: memory, readAtMs, ...(createdAtMs !== undefined && { createdAtMs }) };
}

export class DockerContainerStats implements ContainerStatsSource {
  private readonly docker: Docker;

  constructor(socketPath = '/var/run/docker.sock') {
    this.docker = new Docker({ socketPath });
  }

  async read(nodeName: string): Promise<ContainerReading[]> {
    const running = await this.docker.listContainers({ filters: { label: [`${labelKeys.node}=${nodeName}`], status: ['running'] } });
    // The sandbox holds the network namespace and is not one of the pod's containers (kubectl top
    // shows the pod's own containers, as the kubelet reports them).
    const containers = running.filter((c) => c.Labels?.[labelKeys.container] && c.Labels[labelKeys.container] !== sandboxContainerName);
    const readings: ContainerReading[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(parallelReads, containers.length) }, async () => {
      for (let i = next++; i < containers.length; i = next++) {
        const c = containers[i]!;
        try {
          const stats = await this.docker.getContainer(c.Id).stats({ stream: false, 'one-shot': true, abortSignal: AbortSignal.timeout(readTimeoutMs) } as { stream: false });
          const reading = readingFrom(c.Labels ?? {}, c.Id, stats as EngineStats, Date.now(), c.Created ? c.Created * 1000 : undefined);
          if (reading) readings.push(reading);
        } catch {
          // Gone or slow: this container is left out of one push; the next reads it again.
        }
      }
    }));
    return readings;
  }
}
