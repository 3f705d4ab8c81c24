// A hollow node, as Kubernetes' kubemark has: an API-only fake agent. It joins with the join
// token, registers a Node, renews its Lease, and marks pods bound to it Running and Ready (and
// finishes their deletion), without running any container. Controller, scheduler and CLI tests
// use these instead of Docker.
import { isAlreadyExists, isNotFound } from '../../control-plane/api/errors.ts';
import type { Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { setCondition, timestamp } from '../../control-plane/api/objects.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import { Informer } from '../../control-plane/client/informer.ts';

const nodes = resourceFor('', 'nodes')!;
const pods = resourceFor('', 'pods')!;
const leases = resourceFor('coordination.k8s.io', 'leases')!;

export interface HollowNodeOptions {
  server: { url: string; caPem: string; joinToken: string };
  name: string;
  cpu?: string;
  memory?: string;
  pods?: string;
  arch?: string;
  labels?: Record<string, string>;
  /** The node's InternalIP; pods get it as hostIP. */
  ip?: string;
  /** Images the node reports as present (for the image-locality score). */
  images?: { names: string[]; sizeBytes: number }[];
  leaseIntervalMs?: number;
}

export class HollowNode {
  client!: KubeClient;
  private informer?: Informer<Pod & KubeObject>;
  private timer?: NodeJS.Timeout;
  private heartbeating = true;
  private podCounter = 0;
  readonly name: string;

  constructor(private readonly options: HollowNodeOptions) { this.name = options.name; }

  async start(): Promise<this> {
    const { server, name } = this.options;
    const join = new KubeClient({ server: server.url, token: server.joinToken, ca: server.caPem });
    const { token } = await join.request<{ token: string }>('POST', '/labkube/v1/join', { nodeName: name });
    join.close();
    this.client = new KubeClient({ server: server.url, token, ca: server.caPem, userAgent: `hollow-node/${name}` });
    await this.register();
    await this.renewLease();
    this.informer = new Informer<Pod & KubeObject>({ client: this.client, resource: pods, fieldSelector: `spec.nodeName=${name}` });
    const onPod = (pod: Pod & KubeObject) => void this.syncPod(pod).catch(() => { /* the next event retries */ });
    this.informer.on({ add: onPod, update: (_old, pod) => onPod(pod) }).start();
    await this.informer.waitForSync();
    const interval = this.options.leaseIntervalMs ?? 2000;
    const beat = () => {
      this.timer = setTimeout(() => void this.renewLease().catch(() => {}).finally(() => { if (this.timer) beat(); }), interval);
    };
    beat();
    return this;
  }

  /** Simulates a pulled plug as far as the API can tell: no more heartbeats. */
  stopHeartbeats(): void { this.heartbeating = false; }
  resumeHeartbeats(): void { this.heartbeating = true; }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.informer?.stop();
    this.client?.close();
  }

  private nodeObject(): KubeObject {
    const o = this.options;
    const capacity = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' };
    return {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: o.name, labels: { 'kubernetes.io/hostname': o.name, 'kubernetes.io/arch': o.arch ?? 'amd64', 'kubernetes.io/os': 'linux', ...o.labels } },
      spec: {},
      status: {
        capacity, allocatable: capacity,
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'hollow node is posting ready status', lastHeartbeatTime: timestamp(), lastTransitionTime: timestamp() }],
        addresses: [{ type: 'InternalIP', address: o.ip ?? '127.0.0.1' }, { type: 'Hostname', address: o.name }],
        nodeInfo: { architecture: o.arch ?? 'amd64', operatingSystem: 'linux', osImage: 'hollow', kernelVersion: 'hollow', containerRuntimeVersion: 'hollow://1', kubeletVersion: 'labkube-hollow' },
        images: o.images ?? [],
      },
    };
  }

  private async register(): Promise<void> {
    try {
      await this.client.create(nodes, undefined, this.nodeObject());
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.markReady();
    }
  }

  /** What a kubelet does when its status differs from what it measures: post Ready=True. */
  private async markReady(): Promise<void> {
    const node = await this.client.get(nodes, undefined, this.name);
    const status = (node.status ?? {}) as { conditions?: Parameters<typeof setCondition>[0] };
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') return;
    status.conditions = setCondition(status.conditions, { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'hollow node is posting ready status', lastHeartbeatTime: timestamp() });
    await this.client.update(nodes, { ...node, status }, 'status');
  }

  private async renewLease(): Promise<void> {
    if (!this.heartbeating) return;
    const now = new Date().toISOString().replace('Z', '000Z'); // MicroTime, as Kubernetes writes it
    const spec = { holderIdentity: this.name, leaseDurationSeconds: 40, renewTime: now };
    try {
      const lease = await this.client.get(leases, 'kube-node-lease', this.name);
      await this.client.update(leases, { ...lease, spec: { ...(lease.spec as object), ...spec } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.create(leases, 'kube-node-lease', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name, namespace: 'kube-node-lease' }, spec });
    }
    await this.markReady();
  }

  private async syncPod(pod: Pod & KubeObject): Promise<void> {
    if (!this.heartbeating) return; // a node without power does not report anything either
    const ns = pod.metadata.namespace!;
    if (pod.metadata.deletionTimestamp) {
      try {
        await this.client.delete(pods, ns, pod.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid! } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return;
    }
    // A kubelet never brings a finished pod back to Running.
    const phase = pod.status?.phase;
    if (phase === 'Running' || phase === 'Failed' || phase === 'Succeeded') return;
    const now = timestamp();
    let conditions = pod.status?.conditions;
    for (const type of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) {
      conditions = setCondition(conditions, { type, status: 'True' }, now);
    }
    const ip = this.options.ip ?? '127.0.0.1';
    const status = {
      ...pod.status, phase: 'Running' as const, conditions, hostIP: ip, podIP: `10.0.0.${++this.podCounter % 250}`, startTime: now,
      containerStatuses: pod.spec.containers.map((c) => ({
        name: c.name, ready: true, started: true, restartCount: 0, image: c.image, imageID: `hollow://${c.image}`,
        containerID: `hollow://${pod.metadata.uid}/${c.name}`, state: { running: { startedAt: now } },
      })),
    };
    await this.client.update(pods, { ...pod, status } as KubeObject, 'status');
  }
}

export async function startHollowNodes(server: HollowNodeOptions['server'], count: number,
  options: Partial<HollowNodeOptions> = {}): Promise<HollowNode[]> {
  return Promise.all(Array.from({ length: count }, (_, i) =>
    new HollowNode({ ...options, server, name: `${options.name ?? 'hollow'}-${i + 1}` }).start()));
}
