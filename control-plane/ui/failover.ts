// The failover timeline of a board outage, computed from what the API keeps: the node's Ready
// condition and Lease, the node lifecycle controller's Events (NodeNotReady, TaintManagerEviction)
// and the replacement pods' conditions. The steps are the ones the lab's plug-pull tests print:
//
//   plug pulled (last heartbeat) -> NotReady -> pods evicted -> replacements scheduled -> Running
//
// Timestamps in conditions and Events have one-second resolution, so the gaps are whole seconds.
import type { KubeObject } from '../api/meta.ts';
import { condition, type NodeObject, type PodObject } from './derive.ts';

export interface EventObject extends KubeObject {
  reason?: string;
  message?: string;
  type?: string;
  involvedObject?: { kind?: string; name?: string; namespace?: string };
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  count?: number;
}

export interface FailoverInput {
  nodes: NodeObject[];
  pods: PodObject[];
  events: EventObject[];
  /** Lease renew times seen per node, oldest first (the browser keeps a few). */
  renewals: Map<string, number[]>;
  /** Where pods ran, by namespace/name, including pods since deleted (the browser remembers). */
  podNodes: Map<string, string>;
}

export interface Step { label: string; at?: number; note?: string }
export interface Outage { node: string; start: number; recovered?: number; steps: Step[] }

const ms = (t: string | null | undefined) => (t ? Date.parse(t) : NaN);
const eventTime = (e: EventObject, latest: boolean) => {
  const t = latest ? ms(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp) : ms(e.firstTimestamp ?? e.eventTime ?? e.lastTimestamp);
  return Number.isFinite(t) ? t : undefined;
};
/** A pod's ReplicaSet, from the owner or from the name (an evicted pod may be gone). */
const replicaSetOf = (name: string) => name.slice(0, name.lastIndexOf('-'));
// A ReplicaSet replaces an evicted pod within seconds; a pod of the same set made much later
// belongs to a later scale-up or drain, not to this outage.
const replacementWindowMs = 120_000;
const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : undefined);

function outageStart(node: NodeObject, events: EventObject[]): { start: number; recovered?: number } | undefined {
  const name = node.metadata.name!;
  const ready = condition(node, 'Ready');
  const about = (reason: string) => events.filter((e) => e.reason === reason && e.involvedObject?.kind === 'Node' && e.involvedObject.name === name);
  if (ready && ready.status !== 'True') {
    const t = ms(ready.lastTransitionTime);
    return Number.isFinite(t) ? { start: t } : undefined;
  }
  const start = maxOf(about('NodeNotReady').map((e) => eventTime(e, true)).filter((t): t is number => t !== undefined));
  if (start === undefined) return undefined;
  const back = [...about('NodeReady').map((e) => eventTime(e, true)), ms(ready?.lastTransitionTime)]
    .filter((t): t is number => t !== undefined && Number.isFinite(t) && t >= start);
  const recovered = back.length ? Math.min(...back) : undefined;
  return recovered === undefined ? { start } : { start, recovered };
}

export function failoverTimelines(input: FailoverInput): Outage[] {
  const starts = input.nodes.map((n) => ({ node: n, ...outageStart(n, input.events) })).filter((o) => o.start !== undefined) as
    { node: NodeObject; start: number; recovered?: number }[];
  const evictions = input.events.filter((e) => e.reason === 'TaintManagerEviction' && e.involvedObject?.kind === 'Pod');
  const outages = starts.map(({ node, start, recovered }) => {
    const name = node.metadata.name!;
    // An eviction belongs to the board the pod ran on; if the browser never saw the pod, to the
    // outage that began last before it.
    const mine = evictions.filter((e) => {
      const at = eventTime(e, false);
      if (at === undefined || at < start - 1000) return false;
      const key = `${e.involvedObject?.namespace ?? e.metadata.namespace}/${e.involvedObject?.name}`;
      const ranOn = input.podNodes.get(key);
      if (ranOn !== undefined) return ranOn === name;
      return !starts.some((o) => o.start > start && o.start <= at);
    });
    const evictedAt = mine.length ? Math.min(...mine.map((e) => eventTime(e, false)!)) : undefined;
    const evictedSets = new Set(mine.map((e) => replicaSetOf(e.involvedObject?.name ?? '')));
    const replacements = evictedAt === undefined ? [] : input.pods
      .filter((p) => p.spec.nodeName !== name && !p.metadata.deletionTimestamp && evictedSets.has(replicaSetOf(p.metadata.name!)) &&
        ms(p.metadata.creationTimestamp) >= evictedAt - 1000 && ms(p.metadata.creationTimestamp) <= evictedAt + replacementWindowMs)
      .sort((a, b) => ms(a.metadata.creationTimestamp) - ms(b.metadata.creationTimestamp))
      .slice(0, mine.length);
    const allTrue = (type: string) => {
      const times = replacements.map((p) => condition(p, type)).map((c) => (c?.status === 'True' ? ms(c.lastTransitionTime) : NaN));
      return replacements.length > 0 && times.every(Number.isFinite) ? Math.max(...times) : undefined;
    };
    const heartbeat = maxOf((input.renewals.get(name) ?? []).filter((t) => t <= start)) ??
      (() => { const t = ms(condition(node, 'Ready')?.lastHeartbeatTime); return Number.isFinite(t) && t <= start ? t : undefined; })();
    const steps: Step[] = [
      { label: 'Plug pulled (last heartbeat)', ...(heartbeat !== undefined && { at: heartbeat }) },
      { label: 'NotReady', at: start },
      { label: 'Pods evicted', ...(evictedAt !== undefined && { at: evictedAt }), note: `${mine.length} pod${mine.length === 1 ? '' : 's'}` },
      { label: 'Replacements scheduled', ...withAt(allTrue('PodScheduled')), note: `${replacements.length} of ${mine.length}` },
      { label: 'Replacements Running', ...withAt(allTrue('Ready')) },
    ];
    const outage: Outage = { node: name, start, steps };
    if (recovered !== undefined) outage.recovered = recovered;
    return outage;
  });
  return outages.sort((a, b) => b.start - a.start);
}

const withAt = (at: number | undefined) => (at === undefined ? {} : { at });

/** Seconds from the step before that has a time; undefined for the first or a missing one. */
export function gaps(steps: Step[]): (number | undefined)[] {
  let previous: number | undefined;
  return steps.map((s) => {
    if (s.at === undefined) return undefined;
    const gap = previous === undefined ? undefined : Math.round((s.at - previous) / 1000);
    previous = s.at;
    return gap;
  });
}
