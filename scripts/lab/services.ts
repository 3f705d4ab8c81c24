// Services in a simulated lab: the agent flags that turn on the pod network, node proxy and DNS,
// and readers of Services and EndpointSlices. Shared by test/e2e/services.test.ts and
// scripts/bench/service.ts.
import type { KubeObject } from '../../control-plane/api/meta.ts';
import type { Lab } from './lab.ts';

/**
 * The agent flags a lab with Services runs its boards with (ansible's labkube_agent_extra_args),
 * in one place for the e2e test and the benchmark. LABKUBE_LAB_AGENT_ARGS (words split on
 * spaces) replaces them for a run.
 */
export const servicesAgentArgs: string[] = process.env.LABKUBE_LAB_AGENT_ARGS !== undefined
  ? process.env.LABKUBE_LAB_AGENT_ARGS.split(/\s+/).filter(Boolean)
  : [];

export interface ServicePort { name?: string; port: number; targetPort?: number | string; nodePort?: number; protocol?: string }
export interface ServiceView { clusterIP?: string; type?: string; ports: ServicePort[] }

/** A NodePort Service selecting `selector`, port 80 to the pods' 80. */
export function newNodePortService(name: string, selector: Record<string, string>, port = 80, targetPort: number | string = 80): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, labels: { app: name } },
    spec: { type: 'NodePort', selector, ports: [{ name: 'http', port, targetPort, protocol: 'TCP' }] },
  };
}

export async function getService(lab: Lab, name: string, namespace = 'default'): Promise<ServiceView> {
  const svc = await lab.client.request<{ spec?: { clusterIP?: string; type?: string; ports?: ServicePort[] } }>('GET', `/api/v1/namespaces/${namespace}/services/${name}`);
  return { clusterIP: svc.spec?.clusterIP, type: svc.spec?.type, ports: svc.spec?.ports ?? [] };
}

export interface EndpointView { address: string; nodeName?: string; podName?: string; ready: boolean; serving?: boolean; terminating?: boolean }

interface EndpointSliceList {
  items: { endpoints?: { addresses: string[]; nodeName?: string; targetRef?: { name?: string }; conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean } }[] }[];
}

/**
 * Every endpoint of a Service's EndpointSlices (discovery.k8s.io/v1, label
 * kubernetes.io/service-name), one entry per address. Read by path, so it needs nothing from the
 * resource table.
 */
export async function endpointsOf(lab: Lab, service: string, namespace = 'default'): Promise<EndpointView[]> {
  const list = await lab.client.request<EndpointSliceList>('GET',
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`);
  return list.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses.map((address) => ({
    address, nodeName: e.nodeName, podName: e.targetRef?.name,
    // An unset ready means ready (discovery.k8s.io/v1: "nil should be interpreted as true").
    ready: e.conditions?.ready ?? true, serving: e.conditions?.serving, terminating: e.conditions?.terminating,
  }))));
}

export const formatEndpoints = (eps: EndpointView[]): string =>
  eps.map((e) => `${e.address}@${e.nodeName ?? '?'}${e.ready ? '' : '(not ready)'}`).sort().join(', ') || '(none)';

/** The board engine's container ID of a pod's container (the first one when `container` is not given). */
export async function containerOf(lab: Lab, board: string, pod: string, container?: string): Promise<string> {
  const found = (await lab.podContainers(board)).filter((c) => c.pod === pod && c.running && (!container || c.container === container));
  if (found.length === 0) throw new Error(`no running container${container ? ` ${container}` : ''} of pod ${pod} on ${board}`);
  return found[0]!.id;
}

/** Runs a command inside a pod's container, from its board (`docker exec` on the board's engine). */
export async function execInPod(lab: Lab, board: string, pod: string, args: string[], opts: { container?: string; timeoutMs?: number } = {}): Promise<string> {
  const id = await containerOf(lab, board, pod, opts.container);
  return lab.exec(board, ['docker', 'exec', id, ...args], opts.timeoutMs ?? 15_000);
}
