// The Node this agent registers and keeps current: what host.ts reads (CPU, memory,
// architecture, OS, kernel, board model, CPU temperature), capacity and allocatable, the images
// present with their platforms, and usage for `labctl top nodes`. Status is written when
// something changes, and at least every 60 s otherwise.
import type { Logger } from 'pino';
import type { Node } from '../control-plane/api/core.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { deepEqual, setCondition, timestamp } from '../control-plane/api/objects.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import { annotationImagePlatforms, labelArch, labelHostname, labelOS } from '../control-plane/api/well-known.ts';
import type { KubeClient } from '../control-plane/client/client.ts';
import { Informer } from '../control-plane/client/informer.ts';
import { measureUsage, type Facts, type Usage } from './host.ts';
import { nodeImages, type Platform } from './images.ts';
import type { ContainerRuntime } from './runtime/types.ts';

import {
  boardModelAnnotation as annotationBoardModel, nodeCpuUsageAnnotation as annotationCpuUsage,
  nodeMemoryUsageAnnotation as annotationMemoryUsage, nodeTemperatureAnnotation as annotationCpuTemperature,
} from '../control-plane/api/node-usage.ts';

const nodes = resourceFor('', 'nodes')!;
export const agentVersion = 'labkube-agent/v0.1.0';

export interface Reserve { cpuMilli: number; memoryBytes: number }
export const nodePlatform = (f: Facts): Platform => ({ os: f.os, architecture: f.arch, ...(f.variant && { variant: f.variant }) });

export interface NodeInputs {
  name: string; ip: string; port: number; facts: Facts; reserve: Reserve; maxPods: number;
  images: Awaited<ReturnType<ContainerRuntime['listImages']>>; usage?: Usage & { cpuTemperature?: number }; runtimeVersion: string;
}

export function buildNode(i: NodeInputs, previous?: Node): Node {
  const { facts } = i;
  const { images, platforms } = nodeImages(i.images);
  const capacity = { cpu: String(facts.cores), memory: `${Math.floor(facts.memoryBytes / 1024)}Ki`, pods: String(i.maxPods) };
  const allocatable = {
    cpu: `${Math.max(0, facts.cores * 1000 - i.reserve.cpuMilli)}m`,
    memory: `${Math.max(0, Math.floor((facts.memoryBytes - i.reserve.memoryBytes) / 1024))}Ki`,
    pods: String(i.maxPods),
  };
  const annotations: Record<string, string> = { [annotationImagePlatforms]: JSON.stringify(platforms) };
  if (facts.boardModel) annotations[annotationBoardModel] = facts.boardModel;
  const temp = i.usage?.cpuTemperature ?? facts.cpuTemperature;
  if (temp !== undefined) annotations[annotationCpuTemperature] = temp.toFixed(1);
  if (i.usage) {
    annotations[annotationCpuUsage] = i.usage.cpuCores.toFixed(3);
    annotations[annotationMemoryUsage] = String(Math.round(i.usage.memoryBytes));
  }
  const conditions = setCondition(previous?.status?.conditions, {
    type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'labkube agent is posting ready status', lastHeartbeatTime: timestamp(),
  });
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: {
      name: i.name,
      labels: { [labelHostname]: i.name, [labelArch]: facts.arch, [labelOS]: facts.os },
      annotations,
    },
    spec: {},
    status: {
      capacity, allocatable, conditions,
      addresses: [{ type: 'InternalIP', address: i.ip }, { type: 'Hostname', address: facts.hostname }],
      daemonEndpoints: { kubeletEndpoint: { Port: i.port } },
      nodeInfo: {
        architecture: facts.arch, operatingSystem: facts.os, osImage: facts.osImage, kernelVersion: facts.kernel,
        containerRuntimeVersion: `docker://${i.runtimeVersion}`, kubeletVersion: agentVersion, kubeProxyVersion: '',
        ...(facts.machineId && { machineID: facts.machineId }),
      },
      images,
    },
  };
}

/** What differs besides heartbeat times and usage numbers (those alone wait for the 60 s refresh). */
function material(n: Node): unknown {
  const a = { ...n.metadata.annotations };
  delete a[annotationCpuUsage]; delete a[annotationMemoryUsage]; delete a[annotationCpuTemperature];
  return { a, s: { ...n.status, conditions: n.status?.conditions?.map((c) => ({ type: c.type, status: c.status })) } };
}

export interface NodeStatusOptions {
  client: KubeClient; runtime: ContainerRuntime; inputs: Omit<NodeInputs, 'images' | 'usage'>; logger?: Logger;
  /** A status write failed: a 401 (credential revoked) or 404 (Node deleted) needs the agent to register again. */
  onWriteFailed?: (err: unknown) => void;
  /** The Node was deleted while the agent runs. */
  onDeleted?: () => void;
  /** The informer's wait between reconnects (the agent's Wakeup ends it when the control plane is back). */
  delay?: (ms: number) => Promise<void>;
  /** How often usage and images are sampled; a status write happens only when something changed. */
  sampleIntervalMs?: number;
  /** The longest time between status writes; Kubernetes' nodeStatusReportFrequency is 5 min, 60 s keeps `top` fresh. */
  refreshIntervalMs?: number;
}

export class NodeStatusReporter {
  private timer?: NodeJS.Timeout;
  private last?: Node;
  private lastWriteAt = 0;
  private stopped = false;
  private unwritten = false;
  private writing = false;
  private writeAgain = false;
  private informer?: Informer<Node & KubeObject>;
  private inputs: NodeStatusOptions['inputs'];

  constructor(private readonly o: NodeStatusOptions) { this.inputs = o.inputs; }

  async current(): Promise<Node> {
    const [images, usage] = await Promise.all([this.o.runtime.listImages(), measureUsage()]);
    return buildNode({ ...this.inputs, images, usage }, this.last);
  }

  /** Watches its own Node: a controller marking it NotReady/Unknown gets an answer at once. */
  start(initial: Node): this {
    this.last = initial;
    this.lastWriteAt = Date.now();
    const { client, logger, delay } = this.o;
    this.informer = new Informer<Node & KubeObject>({ client, resource: nodes, fieldSelector: `metadata.name=${this.inputs.name}`, logger, delay });
    const check = (n: Node) => { if (n.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') this.writeNow(); };
    this.informer.on({ add: check, update: (_o, n) => check(n), delete: () => this.o.onDeleted?.() }).start();
    // 10 s: usage fresh enough for `top` without a write unless something changed.
    this.timer = setTimeout(() => void this.loop(), this.o.sampleIntervalMs ?? 10_000);
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer?.stop();
  }

  /** Re-measures, and writes when something changed (or `force`, or the refresh interval passed). */
  async sample(force = false): Promise<void> {
    const next = await this.current();
    const due = Date.now() - this.lastWriteAt >= (this.o.refreshIntervalMs ?? 60_000);
    if (!force && !due && !this.unwritten && this.last && deepEqual(material(this.last), material(next))) return;
    await this.o.client.patch(nodes, undefined, this.inputs.name, { metadata: { annotations: next.metadata.annotations } });
    await this.o.client.patch(nodes, undefined, this.inputs.name, { status: next.status }, 'merge', 'status');
    this.last = next;
    this.lastWriteAt = Date.now();
    this.unwritten = false;
  }

  /**
   * Writes the whole status now (Ready again after an outage, a new log port); a failure waits
   * for the next sample. Calls during a write make one more write after it, not one each.
   */
  writeNow(): void {
    if (this.stopped) return;
    if (this.writing) { this.writeAgain = true; return; }
    this.writing = true;
    void (async () => {
      do {
        this.writeAgain = false;
        try { await this.sample(true); } catch (err) { this.failed(err); }
      } while (this.writeAgain && !this.stopped);
      this.writing = false;
    })();
  }

  /** The log server bound late (its address appeared): publish the port. */
  setLogPort(port: number): void {
    this.inputs = { ...this.inputs, port };
    this.writeNow();
  }

  private failed(err: unknown): void {
    this.o.logger?.debug({ err: (err as Error).message }, 'node status update failed');
    // The failed write may have been the one that said Ready again: the next sample writes, changed or not.
    this.unwritten = true;
    this.o.onWriteFailed?.(err);
  }

  private async loop(): Promise<void> {
    try { await this.sample(); } catch (err) { this.failed(err); }
    if (!this.stopped) this.timer = setTimeout(() => void this.loop(), this.o.sampleIntervalMs ?? 10_000);
  }
}
