// The node agent: joins, registers the Node, renews its Lease, runs a worker per pod bound to
// this node, removes orphans, and serves logs. It owns only containers labelled with its node
// name, so several agents can share one engine.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Pod } from '../control-plane/api/core.ts';
import { isNotFound } from '../control-plane/api/errors.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { deepEqual, timestamp } from '../control-plane/api/objects.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import { KubeClient } from '../control-plane/client/client.ts';
import { Informer } from '../control-plane/client/informer.ts';
import type { BackoffSettings } from './backoff.ts';
import { PullFailures } from './hooks/pull-image.ts';
import { EventRecorder } from './event-recorder.ts';
import { ImageCache } from './image-cache.ts';
import { StartQueue } from './start-queue.ts';
import { loadAirgapImages } from './images.ts';
import { LeaseRenewer } from './lease.ts';
import { startLogServer } from './logs-server.ts';
import { measureFacts, measureUsage } from './host.ts';
import { NodeStatusReporter, agentVersion, buildNode, nodePlatform, type Reserve } from './node-status.ts';
import { PodWorker, type PodApi } from './pod-worker.ts';
import { obtainCredential, registerNode } from './registration.ts';
import { DockerRuntime } from './runtime/docker.ts';
import { labelKeys, type ContainerRuntime, type RuntimeEvent } from './runtime/types.ts';

const pods = resourceFor('', 'pods')!;
const events = resourceFor('', 'events')!;

export interface AgentOptions {
  server: string; joinToken: string; ca: string; nodeName: string; nodeIp: string; dataDir: string;
  dockerSocket: string; logPort: number; leaseIntervalMs: number; reserve: Reserve; maxPods: number;
  backoff: BackoffSettings; logger: Logger; runtime?: ContainerRuntime;
  /** Containers created and started at once (start-queue.ts). */
  parallelStarts: number;
}

// Orphans are also found by a periodic sweep, for containers no pod event mentions (removed
// while the agent was down); 2 s keeps "gone within 5 s" with room for the stop itself.
const orphanSweepMs = 2_000;
// A full resync of every worker catches anything an event missed (the kubelet resyncs each minute).
const resyncMs = 10_000;

export class NodeAgent {
  private client!: KubeClient;
  private readonly runtime: ContainerRuntime;
  private readonly workers = new Map<string, PodWorker>();
  private readonly abort = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private informer?: Informer<Pod & KubeObject>;
  private lease?: LeaseRenewer;
  private status?: NodeStatusReporter;
  private logServer?: { port: number; close(): Promise<void> };
  private readonly pullFailures = new PullFailures();
  private readonly images: ImageCache;
  private readonly starts: StartQueue;
  private readonly events: EventRecorder<KubeObject>;

  constructor(private readonly o: AgentOptions) {
    this.runtime = o.runtime ?? new DockerRuntime(o.dockerSocket);
    this.images = new ImageCache(this.runtime);
    this.starts = new StartQueue(o.parallelStarts);
    this.events = new EventRecorder((e) => this.client.create(events, e.metadata.namespace, e), o.logger);
  }

  get logPort(): number | undefined { return this.logServer?.port; }

  async start(): Promise<void> {
    const { o } = this;
    const log = o.logger;
    const version = await this.runtime.version();
    const loaded = await loadAirgapImages(this.runtime, join(o.dataDir, 'images'), log);
    if (loaded.length) log.info({ loaded }, 'airgap images loaded');
    const facts = await measureFacts();
    this.logServer = await startLogServer({ runtime: this.runtime, nodeName: o.nodeName, ip: o.nodeIp, port: o.logPort, caPem: o.ca, dataDir: o.dataDir, logger: log });

    let token = await obtainCredential({ server: o.server, ca: o.ca, joinToken: o.joinToken, nodeName: o.nodeName, dataDir: o.dataDir, logger: log });
    this.client = new KubeClient({ server: o.server, token, ca: o.ca, userAgent: `${agentVersion}/${o.nodeName}` });
    const inputs = { name: o.nodeName, ip: o.nodeIp, port: this.logServer.port, facts, reserve: o.reserve, maxPods: o.maxPods, runtimeVersion: version.version };
    const node = buildNode({ ...inputs, images: await this.runtime.listImages(), usage: await measureUsage() });
    try {
      await registerNode(this.client, node);
    } catch (err) {
      if ((err as { code?: number }).code !== 401) throw err;
      token = await obtainCredential({ server: o.server, ca: o.ca, joinToken: o.joinToken, nodeName: o.nodeName, dataDir: o.dataDir, logger: log }, true);
      this.client.close();
      this.client = new KubeClient({ server: o.server, token, ca: o.ca, userAgent: `${agentVersion}/${o.nodeName}` });
      await registerNode(this.client, node);
    }
    this.lease = new LeaseRenewer({ client: this.client, nodeName: o.nodeName, intervalMs: o.leaseIntervalMs, logger: log }).start();
    this.status = new NodeStatusReporter({ client: this.client, runtime: this.runtime, inputs, logger: log }).start(node);

    this.informer = new Informer<Pod & KubeObject>({ client: this.client, resource: pods, fieldSelector: `spec.nodeName=${o.nodeName}`, logger: log });
    this.informer.on({
      add: (pod) => this.podChanged(pod, facts),
      // A change to status alone is (almost always) this agent's own write: nothing to do.
      update: (old, pod) => { if (!onlyStatusChanged(old, pod)) this.podChanged(pod, facts); },
      delete: (pod) => void this.workers.get(pod.metadata.uid!)?.remove(),
    }).start();
    void this.watchEngine('docker event stream', (signal) => this.runtime.watchEvents({ [labelKeys.node]: o.nodeName }, (e) => this.containerEvent(e), signal));
    void this.watchEngine('docker image event stream', (signal) => this.runtime.watchImageEvents(() => this.images.clear(), signal));
    await this.informer.waitForSync();
    await this.sweepOrphans();
    this.timers.push(setInterval(() => void this.sweepOrphans().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'orphan sweep failed')), orphanSweepMs));
    this.timers.push(setInterval(() => this.workers.forEach((w) => void w.trigger()), resyncMs));
    log.info({ node: o.nodeName, ip: o.nodeIp, logPort: this.logServer.port }, 'agent ready');
  }

  /** Stops the agent; containers keep running (a restarted agent adopts them). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.timers.forEach((t) => clearInterval(t));
    this.lease?.stop();
    await this.status?.stop();
    await this.informer?.stop();
    this.workers.forEach((w) => w.stop());
    await this.logServer?.close();
    this.client?.close();
  }

  private podChanged(pod: Pod & KubeObject, facts: Awaited<ReturnType<typeof measureFacts>>): void {
    const uid = pod.metadata.uid!;
    let worker = this.workers.get(uid);
    if (!worker) {
      worker = new PodWorker({
        pod, runtime: this.runtime, api: this.podApi(), nodeName: this.o.nodeName, nodeIp: this.o.nodeIp,
        platform: nodePlatform(facts), pullFailures: this.pullFailures, images: this.images, starts: this.starts, backoff: this.o.backoff, logger: this.o.logger,
        onFinished: () => this.workers.delete(uid),
      });
      this.workers.set(uid, worker);
    }
    void worker.update(pod);
  }

  /** Docker's container events: a dying container is seen at once, not at the next resync. */
  private containerEvent(e: RuntimeEvent): void {
    if (!['die', 'start', 'oom', 'destroy'].includes(e.action)) return;
    const uid = e.labels[labelKeys.uid];
    const worker = uid ? this.workers.get(uid) : undefined;
    if (worker) void worker.engineEvent(e);
    else if (e.action === 'start' && this.informer?.hasSynced) void this.sweepOrphans();
  }

  /** Keeps one of the engine's event streams open, reconnecting with backoff (1 s doubling to 30 s, as the reflector). */
  private async watchEngine(what: string, follow: (signal: AbortSignal) => Promise<void>): Promise<void> {
    for (let delay = 1_000; !this.abort.signal.aborted;) {
      const openedAt = Date.now();
      try {
        await follow(this.abort.signal);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        // A stream that stayed up a while was healthy: start the backoff over.
        delay = Date.now() - openedAt > 30_000 ? 1_000 : Math.min(delay * 2, 30_000);
        this.o.logger.warn({ err: (err as Error).message, retryInMs: delay }, `${what} failed`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Removes containers of pods this node no longer runs (deleted, or bound elsewhere after a partition). */
  private async sweepOrphans(): Promise<void> {
    if (!this.informer?.hasSynced) return;
    const known = new Set(this.informer.list().map((p) => p.metadata.uid));
    const mine = await this.runtime.listContainerLabels({ [labelKeys.node]: this.o.nodeName });
    const orphans = mine.filter((c) => !known.has(c.labels[labelKeys.uid]) && !this.workers.has(c.labels[labelKeys.uid]!));
    await Promise.all(orphans.map(async (c) => {
      this.o.logger.info({ container: c.name }, 'removing orphaned container');
      await this.runtime.stopContainer(c.id, 1);
      await this.runtime.removeContainer(c.id);
    }));
  }

  private podApi(): PodApi {
    const client = () => this.client;
    const nodeName = this.o.nodeName;
    const recorder = this.events;
    return {
      async writeStatus(pod, status) {
        await client().patch(pods, pod.metadata.namespace, pod.metadata.name!, { status }, 'merge', 'status');
      },
      async finishDeletion(pod) {
        try {
          await client().delete(pods, pod.metadata.namespace, pod.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid! } });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      },
      event(pod, type, reason, message) {
        const now = timestamp();
        const ns = pod.metadata.namespace ?? 'default';
        recorder.record({
          apiVersion: 'v1', kind: 'Event',
          metadata: { name: `${pod.metadata.name}.${Date.now().toString(16)}${Math.random().toString(16).slice(2, 6)}`, namespace: ns },
          involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid },
          reason, message, type, count: 1, firstTimestamp: now, lastTimestamp: now,
          source: { component: 'kubelet', host: nodeName }, reportingComponent: 'kubelet', reportingInstance: nodeName,
        });
      },
    };
  }
}

function onlyStatusChanged(old: Pod & KubeObject, pod: Pod & KubeObject): boolean {
  const strip = (p: Pod & KubeObject) => ({ ...p, status: undefined, metadata: { ...p.metadata, resourceVersion: undefined } });
  return deepEqual(strip(old), strip(pod));
}

export function readCa(path: string): string { return readFileSync(path, 'utf8'); }
