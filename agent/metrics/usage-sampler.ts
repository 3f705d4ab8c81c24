// Turns cumulative container counters into usage over the last interval, as metrics-server turns
// two kubelet scrapes into a rate. Pure: it remembers only the previous reading of each container.
// A container seen for the first time and created less than a minute ago is measured from its
// start (its counter was 0 then), as metrics-server does for a new container: a pod just started
// shows in `top` at the next push instead of the one after.
import type { PodUsage } from '../../control-plane/api/node-usage.ts';
import type { ContainerReading } from './container-stats.ts';

export class UsageSampler {
  /** Container ID -> its previous reading. Replaced at every sample, so removed containers are forgotten. */
  private previous = new Map<string, ContainerReading>();

  /**
   * Usage per pod since the previous readings. A container seen for the first time has no rate
   * yet, and its pod is left out until every one of its running containers has one (as
   * metrics-server leaves out an incomplete pod): a pod's sum is never missing a container.
   */
  podUsage(readings: ContainerReading[]): PodUsage[] {
    const next = new Map<string, ContainerReading>();
    const pods = new Map<string, PodUsage & { complete: boolean }>();
    for (const r of readings) {
      next.set(r.id, r);
      const key = `${r.namespace}/${r.pod}/${r.uid}`;
      let pod = pods.get(key);
      if (!pod) { pod = { namespace: r.namespace, name: r.pod, uid: r.uid, containers: [], complete: true }; pods.set(key, pod); }
      const cpu = cpuNanoCores(this.previous.get(r.id) ?? sinceCreation(r), r);
      if (cpu === undefined) { pod.complete = false; continue; }
      pod.containers.push({ name: r.container, cpuNanoCores: cpu, memoryBytes: r.memoryWorkingSetBytes });
    }
    this.previous = next;
    return [...pods.values()].filter((p) => p.complete && p.containers.length > 0)
      .map(({ complete: _complete, ...pod }) => ({ ...pod, containers: pod.containers.sort((a, b) => a.name.localeCompare(b.name)) }));
  }
}

// Past this, the average since creation says little about now (an adopted container after an
// agent restart may be days old): such a container waits for its second reading.
const freshContainerMs = 60_000;

/** A zero reading at the container's creation, for a container young enough that its lifetime average is current. */
function sinceCreation(r: ContainerReading): ContainerReading | undefined {
  if (r.createdAtMs === undefined || r.readAtMs - r.createdAtMs > freshContainerMs) return undefined;
  return { ...r, cpuUsageNs: 0, readAtMs: r.createdAtMs };
}

/** CPU over the time between two readings of the same container, in nanocores; undefined without a usable earlier one. */
export function cpuNanoCores(before: ContainerReading | undefined, after: ContainerReading): number | undefined {
  if (!before) return undefined;
  const elapsedNs = (after.readAtMs - before.readAtMs) * 1e6;
  const used = after.cpuUsageNs - before.cpuUsageNs;
  // A counter that went back is a restarted container; a zero interval is the same reading twice.
  if (elapsedNs <= 0 || used < 0) return undefined;
  return Math.round((used / elapsedNs) * 1e9);
}
