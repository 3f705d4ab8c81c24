// The pod as the dashboard keeps it: only the fields the page reads. The first picture waits on
// the pods list, and 1,500 full pods are 2 MB that the browser must receive, decode and parse
// before it can draw anything; cut to these fields they are about a third of that. The server's
// `/ui/lists/pods` (apiserver/ui.ts) sends this form, and the page cuts every pod a watch brings
// to it as well, so a pod reads the same however it arrived (a field only the watch carried
// would vanish on the next relist). `PodObject` in derive.ts is this type: the compiler refuses
// a view that reads a field not kept here.
import type { Condition, KubeObject, ObjectMeta } from '../api/meta.ts';

/** Conditions the page reads: why a pod waits, and when replacements were scheduled and ready. */
const keptConditions = new Set(['PodScheduled', 'Ready']);

export interface DashboardPod {
  apiVersion: string;
  kind: string;
  metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'uid' | 'resourceVersion' | 'creationTimestamp' | 'deletionTimestamp' | 'labels' | 'ownerReferences'>;
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    reason?: string;
    conditions?: Pick<Condition, 'type' | 'status' | 'reason' | 'message' | 'lastTransitionTime'>[];
    containerStatuses?: { ready: boolean; restartCount: number; state?: { waiting?: { reason?: string } } }[];
  };
}

interface FullPod {
  metadata: ObjectMeta;
  spec?: { nodeName?: string };
  status?: {
    phase?: string; reason?: string; conditions?: Condition[];
    containerStatuses?: { ready: boolean; restartCount: number; state?: { waiting?: { reason?: string } } }[];
  };
}

/** A pod (full, or already cut) cut to the dashboard's fields; absent fields stay absent. */
export function dashboardPod(obj: KubeObject): DashboardPod & KubeObject {
  const pod = obj as unknown as FullPod;
  const m = pod.metadata;
  const metadata: DashboardPod['metadata'] = { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion };
  if (m.creationTimestamp) metadata.creationTimestamp = m.creationTimestamp;
  if (m.deletionTimestamp) metadata.deletionTimestamp = m.deletionTimestamp;
  if (m.labels) metadata.labels = m.labels;
  if (m.ownerReferences) metadata.ownerReferences = m.ownerReferences;
  const spec: DashboardPod['spec'] = pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {};
  const result: DashboardPod = { apiVersion: 'v1', kind: 'Pod', metadata, spec };
  const s = pod.status;
  if (s) {
    const status: NonNullable<DashboardPod['status']> = {};
    if (s.phase) status.phase = s.phase;
    if (s.reason) status.reason = s.reason;
    const conditions = s.conditions?.filter((c) => keptConditions.has(c.type)).map(({ type, status: st, reason, message, lastTransitionTime }) => ({
      type, status: st, ...(reason && { reason }), ...(message && { message }), ...(lastTransitionTime && { lastTransitionTime }),
    }));
    if (conditions?.length) status.conditions = conditions;
    if (s.containerStatuses) {
      status.containerStatuses = s.containerStatuses.map((c) => ({
        ready: c.ready, restartCount: c.restartCount, ...(c.state?.waiting && { state: { waiting: c.state.waiting.reason ? { reason: c.state.waiting.reason } : {} } }),
      }));
    }
    result.status = status;
  }
  return result as DashboardPod & KubeObject;
}
