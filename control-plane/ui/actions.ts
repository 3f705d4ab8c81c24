/// <reference lib="dom" />
// The admin's only writes: cordon, uncordon and drain, as kubectl does them. Drain cordons, then
// evicts (pods/eviction, which honours PodDisruptionBudgets) the board's pods that a controller
// will make again elsewhere; a 429 from a budget is retried, as kubectl drain retries it. Like
// kubectl drain it leaves DaemonSet pods (they belong on every board) and mirror pods, and
// without --force it will not evict a pod no controller owns: that pod would be gone for good,
// so it is reported instead.
import { ApiRequestError, type Api, type ListResponse } from './api.ts';
import type { PodObject } from './derive.ts';

const nodePath = (node: string) => `/api/v1/nodes/${encodeURIComponent(node)}`;

export async function cordon(api: Api, node: string, unschedulable: boolean): Promise<string> {
  // null removes the field, as `kubectl uncordon` leaves it.
  await api.mergePatch(nodePath(node), { spec: { unschedulable: unschedulable ? true : null } });
  return `${node} ${unschedulable ? 'cordoned' : 'uncordoned'}`;
}

export async function drain(api: Api, node: string): Promise<string> {
  await cordon(api, node, true);
  const list = await api.get<ListResponse<PodObject>>(`/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`);
  const pods = list.items.filter((p) => !p.metadata.deletionTimestamp &&
    !p.metadata.ownerReferences?.some((o) => o.kind === 'DaemonSet') && !p.metadata.annotations?.['kubernetes.io/config.mirror']);
  const managed = pods.filter((p) => p.metadata.ownerReferences?.some((o) => o.controller));
  await Promise.all(managed.map((p) => evict(api, p.metadata.namespace!, p.metadata.name!)));
  const left = pods.length - managed.length;
  return `${node} drained: ${managed.length} pod${managed.length === 1 ? '' : 's'} evicted` +
    (left ? `, ${left} left in place (no controller would replace them; delete them by hand)` : '');
}

// kubectl drain waits 5 s between evictions a budget refused; a lab's drain gives up after a minute.
const budgetRetryMs = 5_000;
const budgetAttempts = 12;

async function evict(api: Api, namespace: string, name: string): Promise<void> {
  const pod = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
  const eviction = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } };
  for (let attempt = 1; ; attempt++) {
    try {
      await api.request('POST', `${pod}/eviction`, eviction);
      return;
    } catch (err) {
      if (!(err instanceof ApiRequestError)) throw err;
      // "Not found" names the pod when it is gone; a server without the Eviction API has no such
      // route, and kubectl drain then deletes instead.
      if (err.code === 404 && /could not find the requested resource/.test(err.message)) { await api.delete(pod); return; }
      if (err.code === 404) return;
      if (err.code !== 429 || attempt >= budgetAttempts) throw err;
      await new Promise((r) => setTimeout(r, budgetRetryMs));
    }
  }
}
