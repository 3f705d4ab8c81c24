// The node agent: joins, registers the Node, renews its Lease, runs a worker per pod bound to
// this node, removes orphans, and serves logs. It owns only containers labelled with its node
// name, so several agents can share one engine.
//
// Nothing outside the agent ends it: a lab pulls cables, restarts the control plane and deletes
// nodes all day. Every task retries with backoff (backoff.ts) and logs; containers keep running
// throughout. The Lease renewal, every interval whatever happened before, is the agent's probe
// of the control plane: its first failure is logged, its first success after failures restarts
// the watches and cuts every backoff short (Wakeup) and posts Ready; its 401 means the
// credential was revoked, and the agent re-joins and registers again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Node, Pod } from '../control-plane/api/core.ts';
import { isNotFound } from '../control-plane/api/errors.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { deepEqual, timestamp } from '../control-plane/api/objects.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import { Informer } from '../control-plane/client/informer.ts';
import { AgentClient } from './api-client.ts';
import { reconnectBackoff, retry, RetryBackoff, Wakeup, type BackoffSettings } from './backoff.ts';
import { PullFailures } from './hooks/pull-image.ts';
import { EventRecorder } from './event-recorder.ts';
import { ImageCache } from './image-cache.ts';
import { StartQueue } from './start-queue.ts';
import { loadAirgapImages } from './images.ts';
import { LeaseRenewer } from './lease.ts';
import { startLogServer, type LogServer } from './logs-server.ts';
import { measureFacts, measureUsage, type Facts } from './host.ts';
import { NodeStatusReporter, agentVersion, buildNode, nodePlatform, type NodeInputs, type Reserve } from './node-status.ts';
import { PodWorker, type PodApi } from './pod-worker.ts';
import { isUnauthorized, obtainCredential, registerNode, type JoinOptions } from './registration.ts';
import { DockerRuntime } from './runtime/docker.ts';
import { labelKeys, type ContainerRuntime, type NetworkRuntime, type RuntimeEvent } from './runtime/types.ts';
import { killContainers } from './hooks/kill.ts';
import type { PodNetworkMode } from './network/pod-network.ts';
import { ServiceNetwork } from './service-network.ts';

const pods = resourceFor('', 'pods')!;
const events = resourceFor('', 'events')!;

export interface AgentOptions {
  server: string; joinToken: string; ca: string; nodeName: string; nodeIp: string; dataDir: string;
  dockerSocket: string; logPort: number; leaseIntervalMs: number; reserve: Reserve; maxPods: number;
  backoff: BackoffSettings; logger: Logger; runtime?: ContainerRuntime;
  /** Containers created and started at once (start-queue.ts). */
  parallelStarts: number;
  /** `auto`: the pod network, the Service proxy and cluster DNS (service-network.ts); `none`: Docker's default bridge. */
  podNetwork?: PodNetworkMode;
  clusterCidr?: string;
  /** The cluster DNS port on the pod bridge's gateway. */
  dnsPort?: number;
}

// Orphans are also found by a periodic sweep, for containers no pod event mentions (removed
// while the agent was down); 2 s keeps "gone within 5 s" with room for the stop itself.
const orphanSweepMs = 2_000;
// A full resync of every worker catches anything an event missed (the kubelet resyncs each minute).
const resyncMs = 10_000;

export class NodeAgent {
  private client!: AgentClient;
  private readonly runtime: ContainerRuntime;
  private readonly workers = new Map<string, PodWorker>();
  private readonly abort = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Ends the backoff waits of every retry loop when the control plane answers again. */
  private readonly wakeup = new Wakeup();
  private inputs!: Omit<NodeInputs, 'images' | 'usage'>;
  private informer?: Informer<Pod & KubeObject>;
  private network?: ServiceNetwork;
  private lease?: LeaseRenewer;
  private status?: NodeStatusReporter;
  private logServer?: LogServer;
  private readonly pullFailures = new PullFailures();
  private readonly images: ImageCache;
  private readonly starts: StartQueue;
  private readonly events: EventRecorder<KubeObject>;
  private controlPlaneReachable = true;
  private reregistering = false;

  constructor(private readonly o: AgentOptions) {
    this.runtime = o.runtime ?? new DockerRuntime(o.dockerSocket);
    this.images = new ImageCache(this.runtime);
    this.starts = new StartQueue(o.parallelStarts);
    this.events = new EventRecorder((e) => this.client.create(events, e.metadata.namespace, e), o.logger);
  }

  get logPort(): number | undefined { return this.logServer?.port || undefined; }

  /**
   * Starts the agent. Nothing it needs at start ends it when missing: the engine, the control
   * plane and the node address are each waited for with backoff (pods already running keep
   * running meanwhile). Resolves once the agent runs its pods; never rejects unless stopped.
   */
  async start(): Promise<void> {
    try {
      await this.run();
    } catch (err) {
      if (!this.abort.signal.aborted) throw err;
    }
  }

  private async run(): Promise<void> {
    const { o } = this;
    const log = o.logger;
    const version = await this.retry('the container engine', () => this.runtime.version());
    const loaded = await loadAirgapImages(this.runtime, join(o.dataDir, 'images'), log)
      .catch((err: unknown) => { log.error({ err: (err as Error).message }, 'airgap images not loaded'); return []; });
    if (loaded.length) log.info({ loaded }, 'airgap images loaded');
    const facts = await measureFacts();
    this.logServer = await startLogServer({ runtime: this.runtime, nodeName: o.nodeName, ip: o.nodeIp, port: o.logPort, caPem: o.ca, dataDir: o.dataDir, logger: log });
    void this.logServer.bound.then((port) => this.logServerBound(port));

    const token = await obtainCredential(this.joinOptions());
    this.client = new AgentClient({ server: o.server, token, ca: o.ca, userAgent: `${agentVersion}/${o.nodeName}` });
    this.inputs = { name: o.nodeName, ip: o.nodeIp, port: this.logServer.port || o.logPort, facts, reserve: o.reserve, maxPods: o.maxPods, runtimeVersion: version.version };
    const node = await this.register();
    this.startHeartbeats(node);
    await this.startServiceNetwork();
    this.startPodInformer(facts);
    this.watchEngine('docker event stream', (signal) => this.runtime.watchEvents({ [labelKeys.node]: o.nodeName }, (e) => this.containerEvent(e), signal));
    this.watchEngine('docker image event stream', (signal) => this.runtime.watchImageEvents(() => this.images.clear(), signal));
    await this.informer!.waitForSync();
    this.startSweeps();
    log.info({ node: o.nodeName, ip: o.nodeIp, logPort: this.logServer.port }, 'agent ready');
  }

  /** Stops the agent; containers keep running (a restarted agent adopts them). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.timers.forEach((t) => clearInterval(t));
    this.lease?.stop();
    await this.status?.stop();
    await this.informer?.stop();
    await this.network?.stop();
    this.workers.forEach((w) => w.stop());
    await this.logServer?.close();
    this.client?.close();
  }

  // --- the control plane: joining, registering, and coming back after an outage or a revoked credential

  private joinOptions(currentToken?: string): JoinOptions {
    const { o } = this;
    return { server: o.server, ca: o.ca, joinToken: o.joinToken, nodeName: o.nodeName, dataDir: o.dataDir, logger: o.logger, currentToken, signal: this.abort.signal, sleep: this.wakeup.sleep };
  }

  /** Registers the Node (created, or brought up to date), re-joining first when the credential is refused. */
  private async register(): Promise<Node> {
    return this.retry('node registration', async () => {
      const node = buildNode({ ...this.inputs, images: await this.runtime.listImages(), usage: await measureUsage() });
      try {
        await registerNode(this.client, node);
      } catch (err) {
        if (!isUnauthorized(err)) throw err;
        await this.renewCredential();
        await registerNode(this.client, node);
      }
      return node;
    });
  }

  /** A 401: the credential was revoked. Said once, loudly; the pods keep running while the agent re-joins. */
  private async renewCredential(): Promise<void> {
    this.o.logger.error({ node: this.o.nodeName },
      `the API server no longer accepts this node's credential (401): node ${this.o.nodeName} was deleted, or its name was joined again by another agent or an admin. ` +
      'Pods keep running; re-joining with the join token. If another machine now uses this name, stop it or start one of them with another --name.');
    const token = await obtainCredential(this.joinOptions(this.client.token), true);
    this.client.useToken(token);
    this.o.logger.info({ node: this.o.nodeName }, 're-joined with a new node credential');
  }

  /** The Node was deleted or the credential revoked while running: register again, in the background. */
  private reregister(): void {
    if (this.reregistering || this.abort.signal.aborted) return;
    this.reregistering = true;
    this.background('registering again', this.register().then(() => this.controlPlaneBack()))
      .finally(() => { this.reregistering = false; });
  }

  private startHeartbeats(node: Node): void {
    const { o } = this;
    this.lease = new LeaseRenewer({
      client: this.client, nodeName: o.nodeName, intervalMs: o.leaseIntervalMs, logger: o.logger,
      onRenewed: () => this.leaseRenewed(),
      onFailed: (err) => this.leaseFailed(err),
    }).start();
    this.status = new NodeStatusReporter({
      client: this.client, runtime: this.runtime, inputs: this.inputs, logger: o.logger, delay: this.informerDelay,
      onWriteFailed: (err) => { if (isUnauthorized(err) || isNotFound(err)) this.reregister(); },
      onDeleted: () => this.reregister(),
    }).start(node);
  }

  private leaseRenewed(): void {
    if (this.controlPlaneReachable) return;
    this.controlPlaneReachable = true;
    this.o.logger.info('the control plane answers again');
    this.controlPlaneBack();
  }

  private leaseFailed(err: unknown): void {
    if (isUnauthorized(err)) return this.reregister();
    if (!this.controlPlaneReachable) return;
    this.controlPlaneReachable = false;
    this.o.logger.warn({ err: (err as Error).message }, 'cannot renew the node lease; pods keep running, retrying each lease interval');
  }

  /**
   * An informer's wait before it lists and watches again. Its backoff grows to 30 s while the
   * control plane is away; once the Lease renews again that wait is cut short, and a watch that
   * fails while the Lease renews (ended by restartWatches, say) is retried within a second.
   */
  private readonly informerDelay = (ms: number): Promise<void> =>
    this.wakeup.sleep(this.controlPlaneReachable ? Math.min(ms, 1_000) : ms, this.abort.signal);

  /** After an outage: watches resume on fresh connections, waiting retries go now, and the Node says Ready. */
  private controlPlaneBack(): void {
    this.client.restartWatches();
    this.wakeup.wake();
    this.status?.writeNow();
  }

  /** The address appeared and the log server listens: the Node names its port (it is 0 until then with --port 0). */
  private logServerBound(port: number): void {
    if (!port || !this.inputs || this.inputs.port === port) return;
    this.inputs = { ...this.inputs, port };
    this.status?.setLogPort(port);
  }

  // --- pods

  private startPodInformer(facts: Facts): void {
    const { o } = this;
    this.informer = new Informer<Pod & KubeObject>({
      client: this.client, resource: pods, fieldSelector: `spec.nodeName=${o.nodeName}`, logger: o.logger, delay: this.informerDelay,
    });
    this.informer.on({
      add: (pod) => this.podChanged(pod, facts),
      // A change to status alone is (almost always) this agent's own write: nothing to do.
      update: (old, pod) => { if (!onlyStatusChanged(old, pod)) this.podChanged(pod, facts); },
      delete: (pod) => { const w = this.workers.get(pod.metadata.uid!); if (w) this.background('pod removal', w.remove()); },
    }).start();
  }

  /** The pod network, Service proxy and DNS; pods wait for it, so they start with their network and Service variables. */
  private async startServiceNetwork(): Promise<void> {
    const { o } = this;
    if ((o.podNetwork ?? 'none') === 'none') return;
    if (!isNetworkRuntime(this.runtime)) {
      o.logger.warn('this container runtime cannot create networks: pods stay on Docker\'s default bridge');
      return;
    }
    this.network = await ServiceNetwork.create({
      client: this.client, nodeName: o.nodeName, runtime: this.runtime, dataDir: o.dataDir, mode: o.podNetwork ?? 'none',
      clusterCIDR: o.clusterCidr ?? '10.42.0.0/16', dnsPort: o.dnsPort ?? 53, logger: o.logger,
    });
    await this.network?.start();
  }

  private startSweeps(): void {
    this.background('orphan sweep', this.sweepOrphans());
    this.timers.push(setInterval(() => this.background('orphan sweep', this.sweepOrphans()), orphanSweepMs));
    this.timers.push(setInterval(() => this.workers.forEach((w) => this.background('pod resync', w.trigger())), resyncMs));
  }

  private podChanged(pod: Pod & KubeObject, facts: Facts): void {
    const uid = pod.metadata.uid!;
    let worker = this.workers.get(uid);
    if (!worker) {
      worker = new PodWorker({
        pod, runtime: this.runtime, api: this.podApi(), nodeName: this.o.nodeName, nodeIp: this.o.nodeIp,
        platform: nodePlatform(facts), pullFailures: this.pullFailures, images: this.images, starts: this.starts, backoff: this.o.backoff, logger: this.o.logger,
        ...(this.network && { podNetwork: this.network.podNetwork, serviceEnv: this.network.serviceEnv }),
        onFinished: () => this.workers.delete(uid),
      });
      this.workers.set(uid, worker);
    }
    this.background('pod sync', worker.update(pod));
  }

  /** Docker's container events: a dying container is seen at once, not at the next resync. */
  private containerEvent(e: RuntimeEvent): void {
    if (!['die', 'start', 'oom', 'destroy'].includes(e.action)) return;
    const uid = e.labels[labelKeys.uid];
    const worker = uid ? this.workers.get(uid) : undefined;
    if (worker) this.background('pod sync', worker.engineEvent(e));
    else if (e.action === 'start' && this.informer?.hasSynced) this.background('orphan sweep', this.sweepOrphans());
  }

  /** Keeps one of the engine's event streams open, reconnecting with backoff (1 s doubling to 30 s, as the reflector). */
  private watchEngine(what: string, follow: (signal: AbortSignal) => Promise<void>): void {
    const backoff = new RetryBackoff({ baseMs: 1_000, maxMs: 30_000 });
    const stream = async () => {
      const openedAt = Date.now();
      try {
        await follow(this.abort.signal);
      } finally {
        // A stream that stayed up a while was healthy: start the backoff over.
        if (Date.now() - openedAt > 30_000) backoff.reset();
      }
      if (!this.abort.signal.aborted) throw new Error('the stream ended');
    };
    this.background(what, this.retryWith(what, backoff, stream));
  }

  // --- failure handling shared by every task above

  /** Retries `attempt` with the reconnect backoff until it succeeds (or the agent stops), logging each failure. */
  private retry<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    return this.retryWith(what, new RetryBackoff(reconnectBackoff), attempt);
  }

  private retryWith<T>(what: string, backoff: RetryBackoff, attempt: () => Promise<T>): Promise<T> {
    return retry(attempt, {
      backoff, signal: this.abort.signal, sleep: this.wakeup.sleep,
      onError: (err, retryInMs) => this.o.logger.warn({ err: (err as Error).message, retryInMs }, `${what} failed; retrying`),
    });
  }

  /** Runs a task nobody awaits: its failure is logged, never left to reject unhandled. */
  private background(what: string, task: Promise<unknown>): Promise<void> {
    return task.then(() => undefined, (err: unknown) => {
      if (!this.abort.signal.aborted) this.o.logger.warn({ err: (err as Error).message }, `${what} failed`);
    });
  }

  /** Removes containers of pods this node no longer runs (deleted, or bound elsewhere after a partition). */
  private async sweepOrphans(): Promise<void> {
    if (!this.informer?.hasSynced) return;
    const known = new Set(this.informer.list().map((p) => p.metadata.uid));
    const mine = await this.runtime.listContainerLabels({ [labelKeys.node]: this.o.nodeName });
    const orphans = mine.filter((c) => !known.has(c.labels[labelKeys.uid]) && !this.workers.has(c.labels[labelKeys.uid]!));
    if (orphans.length > 0) {
      this.o.logger.info({ containers: orphans.map((c) => c.name) }, 'removing orphaned containers');
      // The sandboxes last: an app container's network namespace is its sandbox's.
      await killContainers(this.runtime, orphans, 1);
    }
    await this.network?.podNetwork?.sweepPodFiles(new Set([...known, ...this.workers.keys()].filter((u): u is string => !!u)));
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

function isNetworkRuntime(runtime: ContainerRuntime): runtime is ContainerRuntime & NetworkRuntime {
  return typeof (runtime as Partial<NetworkRuntime>).createNetwork === 'function';
}
