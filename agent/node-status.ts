// The Node this agent registers and keeps current: what host.ts reads (CPU, memory,
// architecture, OS, kernel, board model), capacity and allocatable, and the images present with
// their platforms.
//
// The Node is written only when something a reader acts on changes: its conditions (status and
// reason, not the heartbeat time), addresses, capacity, allocatable, images, nodeInfo, the log
// port, or the labels and annotations the agent sets. There is no periodic rewrite: liveness is
// the Lease (lease.ts, kept in the control plane's memory), which is what the node lifecycle
// controller watches, and live usage goes to the metrics API (metrics/metrics-pusher.ts, also
// memory only). An idle board so writes nothing to the control plane's disk; Kubernetes' kubelet
// still rewrites its Node every 5 min (nodeStatusReportFrequency), labkube does not need to.
//
// Drift is answered instead: the reporter watches its own Node, and when what is stored differs
// from what it last wrote (the controller marked it Unknown after an outage, an admin edited the
// status, a control plane came back from an older backup), it writes its status again.
import type { Logger } from 'pino';
import type { Node } from '../control-plane/api/core.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { boardModelAnnotation } from '../control-plane/api/node-usage.ts';
import { deepEqual, setCondition, timestamp } from '../control-plane/api/objects.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import { annotationImagePlatforms, labelArch, labelHostname, labelOS } from '../control-plane/api/well-known.ts';
import type { KubeClient } from '../control-plane/client/client.ts';
import { Informer } from '../control-plane/client/informer.ts';
import type { Facts } from './host.ts';
import { nodeImages, type Platform } from './images.ts';
import type { ContainerStatsSource } from './metrics/container-stats.ts';
import { MetricsPusher } from './metrics/metrics-pusher.ts';
import { NodeUsageReader } from './metrics/node-usage-reader.ts';
import type { ContainerRuntime } from './runtime/types.ts';

const nodes = resourceFor('', 'nodes')!;
export const agentVersion = 'labkube-agent/v0.1.0';

export interface Reserve { cpuMilli: number; memoryBytes: number }
export const nodePlatform = (f: Facts): Platform => ({ os: f.os, architecture: f.arch, ...(f.variant && { variant: f.variant }) });

export interface NodeInputs {
  name: string; ip: string; port: number; facts: Facts; reserve: Reserve; maxPods: number;
  images: Awaited<ReturnType<ContainerRuntime['listImages']>>; runtimeVersion: string;
  /**
   * @deprecated Ignored: usage lives in the metrics API now, never on the Node. Accepted so a
   * caller that still measures it at registration keeps compiling; drop it there.
   */
  usage?: unknown;
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
  if (facts.boardModel) annotations[boardModelAnnotation] = facts.boardModel;
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

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * `value` cut down to the shape of `shape`: only the keys `shape` has, at every depth, and arrays
 * element by element when their lengths agree. What the server adds (a label an admin gave, a
 * field its schema defaults, such as nodeInfo.bootID "") is not the agent's and is no drift;
 * what it changed or dropped of the agent's is.
 */
function projectOnto(value: unknown, shape: unknown): unknown {
  if (isObject(shape)) return isObject(value) ? Object.fromEntries(Object.keys(shape).map((k) => [k, projectOnto(value[k], shape[k])])) : value;
  if (Array.isArray(shape) && Array.isArray(value) && value.length === shape.length) return value.map((v, i) => projectOnto(v, shape[i]));
  return value;
}

/**
 * What a reader acts on, of `node`, limited to what the agent writes (`ours`): its labels,
 * annotations and status fields (others are the admin's or the server's), with conditions
 * reduced to type, status and reason. Heartbeat and transition times are left out: they change
 * without anything changing.
 */
export function materialStatus(node: Node, ours: Node = node): unknown {
  const { conditions, ...status } = node.status ?? {};
  const { conditions: _ours, ...ourStatus } = ours.status ?? {};
  return {
    labels: projectOnto(node.metadata.labels ?? {}, ours.metadata.labels ?? {}),
    annotations: projectOnto(node.metadata.annotations ?? {}, ours.metadata.annotations ?? {}),
    status: { ...projectOnto(status, ourStatus) as object, conditions: (conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason })) },
  };
}

export interface NodeStatusOptions {
  client: KubeClient; runtime: ContainerRuntime; inputs: Omit<NodeInputs, 'images' | 'usage'>; logger?: Logger;
  /** A status write failed: a 401 (credential revoked) or 404 (Node deleted) needs the agent to register again. */
  onWriteFailed?: (err: unknown) => void;
  /** The Node was deleted while the agent runs. */
  onDeleted?: () => void;
  /** The informer's wait between reconnects (the agent's Wakeup ends it when the control plane is back). */
  delay?: (ms: number) => Promise<void>;
  /** How often images are listed to notice a pull or removal; a write happens only when something changed. */
  sampleIntervalMs?: number;
  /**
   * Usage pushed to the metrics API (metrics/metrics-pusher.ts); false for none. Per-container
   * figures need `stats`, by default read from Docker when the runtime is Docker.
   */
  metrics?: false | { intervalMs?: number; stats?: ContainerStatsSource };
  /** The engine socket for per-container figures (the agent's --docker-socket). */
  dockerSocket?: string;
}

export class NodeStatusReporter {
  private timer?: NodeJS.Timeout;
  /** The Node as this agent last wrote (or registered) it: the reference for "changed". */
  private written?: Node;
  /** The server's answer to our last write: watch events up to its resourceVersion are our own. */
  private echo?: Node & KubeObject;
  private stopped = false;
  /** A write failed: the next sample writes, changed or not. */
  private unwritten = false;
  private writing = false;
  private writeAgain = false;
  private forceNext = false;
  private informer?: Informer<Node & KubeObject>;
  private pusher?: MetricsPusher;
  private inputs: NodeStatusOptions['inputs'];

  constructor(private readonly o: NodeStatusOptions) { this.inputs = o.inputs; }

  async current(): Promise<Node> {
    const images = await this.o.runtime.listImages();
    return buildNode({ ...this.inputs, images }, this.written);
  }

  /** Watches its own Node (answering drift at once), samples images, and starts the usage pushes. */
  start(initial: Node): this {
    this.written = initial;
    const { client, logger, delay } = this.o;
    this.informer = new Informer<Node & KubeObject>({ client, resource: nodes, fieldSelector: `metadata.name=${this.inputs.name}`, logger, delay });
    const check = (n: Node & KubeObject) => { if (this.drifted(n)) this.writeNow(); };
    this.informer.on({ add: check, update: (_o, n) => check(n), delete: () => this.o.onDeleted?.() }).start();
    // 10 s: a pulled image reaches the scheduler's image-locality score soon after the pull.
    this.timer = setTimeout(() => this.tick(), this.o.sampleIntervalMs ?? 10_000);
    if (this.o.metrics !== false) {
      void this.startMetrics().catch((err: unknown) => logger?.warn({ err: (err as Error).message }, 'usage reporting not started'));
    }
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.pusher?.stop();
    await this.informer?.stop();
  }

  /**
   * Measures, and writes what changed since the last write: the labels and annotations with a
   * merge patch of the Node, the status with a merge patch of nodes/status. `force` writes both
   * (Ready again after an outage, drift). Nothing changed and nothing forced: no request at all.
   */
  async sample(force = false): Promise<void> {
    const next = await this.current();
    let meta = true;
    let status = true;
    if (!force && !this.unwritten && this.written) {
      const a = materialStatus(this.written) as { labels: unknown; annotations: unknown; status: unknown };
      const b = materialStatus(next) as typeof a;
      meta = !deepEqual([a.labels, a.annotations], [b.labels, b.annotations]);
      status = !deepEqual(a.status, b.status);
    }
    if (!meta && !status) return;
    if (meta) this.echo = await this.o.client.patch<Node & KubeObject>(nodes, undefined, this.inputs.name, { metadata: { labels: next.metadata.labels, annotations: next.metadata.annotations } });
    if (status) this.echo = await this.o.client.patch<Node & KubeObject>(nodes, undefined, this.inputs.name, { status: next.status }, 'merge', 'status');
    this.written = next;
    this.unwritten = false;
  }

  /**
   * Writes the whole status now (Ready again after an outage, a new log port, drift); a failure
   * waits for the next sample. Calls during a write make one more write after it, not one each.
   */
  writeNow(): void { this.request(true); }

  /** The log server bound late (its address appeared): publish the port. */
  setLogPort(port: number): void {
    this.inputs = { ...this.inputs, port };
    this.writeNow();
  }

  /** Whether the stored Node differs, in what this agent writes, from what it last wrote. */
  private drifted(server: Node & KubeObject): boolean {
    if (!this.written || this.writing) return false; // the write in flight decides
    if (this.echo && Number(server.metadata.resourceVersion) <= Number(this.echo.metadata.resourceVersion)) return false; // our own, or older
    const reference = this.echo ?? this.written;
    return !deepEqual(materialStatus(server, this.written), materialStatus(reference, this.written));
  }

  private request(force: boolean): void {
    if (this.stopped) return;
    this.forceNext ||= force;
    if (this.writing) { this.writeAgain = true; return; }
    this.writing = true;
    void (async () => {
      do {
        this.writeAgain = false;
        const forced = this.forceNext;
        this.forceNext = false;
        try { await this.sample(forced); } catch (err) { this.failed(err); }
      } while (this.writeAgain && !this.stopped);
      this.writing = false;
    })();
  }

  private failed(err: unknown): void {
    this.o.logger?.debug({ err: (err as Error).message }, 'node status update failed');
    // The failed write may have been the one that said Ready again: the next sample writes, changed or not.
    this.unwritten = true;
    this.o.onWriteFailed?.(err);
  }

  private tick(): void {
    this.request(false);
    if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.o.sampleIntervalMs ?? 10_000);
  }

  /**
   * The Docker runtime is imported here, not at the top: the agent loads dockerode only after its
   * first heartbeat (agent.ts), and by the time the Node is registered it is loaded anyway.
   */
  private async startMetrics(): Promise<void> {
    const settings = this.o.metrics || {};
    const { DockerRuntime } = await import('./runtime/docker.ts');
    const stats = settings.stats ?? (this.o.runtime instanceof DockerRuntime
      ? new (await import('./metrics/container-stats.ts')).DockerContainerStats(this.o.dockerSocket) : undefined);
    if (this.stopped) return;
    const nodeUsage = new NodeUsageReader();
    this.pusher = new MetricsPusher({
      client: this.o.client, nodeName: this.inputs.name, measureNode: () => nodeUsage.read(), logger: this.o.logger,
      ...(stats && { stats }), ...(settings.intervalMs !== undefined && { intervalMs: settings.intervalMs }),
    }).start();
  }
}
