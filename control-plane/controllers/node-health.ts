// Pure decisions of the node lifecycle controller, kept apart so tests can call them with
// fixtures: what a node's conditions and taints should be, and when a pod on it is evicted.
import type { Node, Pod, Taint, Toleration } from '../api/core.ts';
import type { Condition } from '../api/meta.ts';
import { taintNodeNotReady, taintNodeUnreachable, taintNodeUnschedulable } from '../api/well-known.ts';
import { toleratesTaint } from '../scheduler/taints.ts';

export const reasonNodeStatusUnknown = 'NodeStatusUnknown';
export const messageNodeStatusUnknown = 'Kubelet stopped posting node status.';
// The conditions a kubelet posts; all become Unknown when it stops posting, as upstream.
const agentConditions = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

export interface NodePlan {
  /** New status.conditions to write, or undefined when they stay. */
  conditions?: Condition[];
  /** New spec.taints to write, or undefined when they stay. */
  taints?: Taint[];
  /** The Ready status the node has once the plan is written. */
  ready: Condition['status'];
}

/**
 * What a node should look like. `stale`: no heartbeat (Lease renewal or Ready post) within the
 * grace period. A stale node is Unknown and tainted unreachable; a node whose agent says Ready
 * False is tainted not-ready; a node with a fresh heartbeat and Ready Unknown is recovering
 * (its agent is about to post Ready) and carries neither taint, so nothing flaps.
 */
export function planNode(node: Node, stale: boolean, now: string): NodePlan {
  const conditions = node.status?.conditions ?? [];
  let ready = conditions.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
  let nextConditions: Condition[] | undefined;
  if (stale && ready !== 'Unknown') {
    const unknown = (c: Condition | undefined, type: string): Condition => ({
      ...c, type, status: 'Unknown', reason: reasonNodeStatusUnknown, message: messageNodeStatusUnknown,
      lastTransitionTime: c?.status === 'Unknown' ? c.lastTransitionTime ?? now : now,
    });
    nextConditions = conditions.map((c) => (agentConditions.includes(c.type) ? unknown(c, c.type) : c));
    if (!conditions.some((c) => c.type === 'Ready')) nextConditions.push(unknown(undefined, 'Ready'));
    ready = 'Unknown';
  }
  const noExecute = stale ? taintNodeUnreachable : ready === 'False' ? taintNodeNotReady : undefined;
  const taints = desiredTaints(node.spec?.taints ?? [], noExecute, node.spec?.unschedulable === true, now);
  return { ready, ...(nextConditions && { conditions: nextConditions }), ...(taints && { taints }) };
}

const isManaged = (t: Taint) =>
  ((t.key === taintNodeUnreachable || t.key === taintNodeNotReady) && t.effect === 'NoExecute') ||
  (t.key === taintNodeUnschedulable && t.effect === 'NoSchedule');

/** The taints with the managed ones made to match; undefined when nothing changes. */
function desiredTaints(current: readonly Taint[], noExecuteKey: string | undefined, unschedulable: boolean, now: string): Taint[] | undefined {
  const wanted: Taint[] = [];
  if (noExecuteKey) wanted.push({ key: noExecuteKey, effect: 'NoExecute', timeAdded: now });
  if (unschedulable) wanted.push({ key: taintNodeUnschedulable, effect: 'NoSchedule' });
  const same = (a: Taint, b: Taint) => a.key === b.key && a.effect === b.effect;
  const kept = current.filter((t) => !isManaged(t) || wanted.some((w) => same(w, t)));
  const added = wanted.filter((w) => !current.some((t) => same(w, t)));
  if (added.length === 0 && kept.length === current.length) return undefined;
  return [...kept, ...added]; // a kept taint keeps its timeAdded: tolerations count from the first time
}

/**
 * The shortest tolerationSeconds of the tolerations that match; undefined when none sets one
 * (tolerated forever); 0 for zero or negative values (Kubernetes' getMinTolerationTime).
 */
function minTolerationSeconds(matching: readonly Toleration[]): number | undefined {
  let min: number | undefined;
  for (const t of matching) {
    if (t.tolerationSeconds === undefined) continue;
    if (t.tolerationSeconds <= 0) return 0;
    min = min === undefined ? t.tolerationSeconds : Math.min(min, t.tolerationSeconds);
  }
  return min;
}

/**
 * When (epoch ms) a pod must leave a node with these taints; undefined when it may stay.
 * A NoExecute taint the pod does not tolerate evicts at once, except not-ready and unreachable,
 * which every pod tolerates for `defaultTolerationSeconds` unless it says otherwise (Kubernetes'
 * DefaultTolerationSeconds admission). The clock starts at the taint's timeAdded.
 */
export function evictionTime(pod: Pod, taints: readonly Taint[] | undefined, defaultTolerationSeconds: number,
  firstSeen: (taint: Taint) => number): number | undefined {
  let at: number | undefined;
  for (const taint of taints ?? []) {
    if (taint.effect !== 'NoExecute') continue;
    const matching = (pod.spec.tolerations ?? []).filter((t) => toleratesTaint(t, taint));
    const defaulted = taint.key === taintNodeNotReady || taint.key === taintNodeUnreachable ? defaultTolerationSeconds : 0;
    const seconds = matching.length === 0 ? defaulted : minTolerationSeconds(matching);
    if (seconds === undefined) continue;
    const added = taint.timeAdded ? Date.parse(taint.timeAdded) : NaN;
    const start = Number.isNaN(added) ? firstSeen(taint) : added;
    const deadline = start + seconds * 1000;
    at = at === undefined ? deadline : Math.min(at, deadline);
  }
  return at;
}

export const hasNoExecuteTaint = (node: Node, key: string): boolean =>
  (node.spec?.taints ?? []).some((t) => t.key === key && t.effect === 'NoExecute');

export const noExecuteTaints = (node: Node | undefined): string =>
  (node?.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute').map((t) => `${t.key}=${t.value ?? ''}@${t.timeAdded ?? ''}`).sort().join(',');
