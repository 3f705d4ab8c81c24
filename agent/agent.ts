// The node agent: joins, registers the Node, renews its Lease, runs a worker per pod bound to
// this node, removes orphans, and serves logs. It owns only containers labelled with its node
// name, so several agents can share one engine.
//
// Nothing outside the agent ends it: a lab pulls cables, restarts the control plane and deletes
// nodes all day. Every task retries with backoff (backoff.ts) and logs; containers keep running
// throughout. The Lease renewal, every interval whatever happened before, is the agent's probe
// of the control plane: its first failure is logged; its first success after failures restarts
// the watches, cuts every backoff short (Wakeup), posts Ready and resyncs every pod, so
// containers of pods deleted meanwhile go within seconds;
// its 401 means the credential was revoked, and the agent re-joins and registers again.
//
// Start order: the first heartbeat before anything slow (main.ts sends it before this file is
// even loaded), then the pods, from the API server or, while it does not answer, from the local
// checkpoint (checkpoint.ts); see run().
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
import type { Facts } from './host.ts';
import { NodeStatusReporter, agentVersion, buildNode, nodePlatform, type NodeInputs, type Reserve } from './node-status.ts';
import { PodWorker, type PodApi } from './pod-worker.ts';
import { isUnauthorized, obtainCredential, registerNode, renewServingCert, type JoinOptions } from './registration.ts';
import { ServingCertificate } from './serving-cert.ts';
import { labelKeys, type ContainerRuntime, type NetworkRuntime, type RuntimeEvent } from './runtime/types.ts';
import { killContainers } from './hooks/kill.ts';
import type { PodNetworkMode } from './network/pod-network.ts';
import { ServiceNetwork } from './service-network.ts';
import { PodCheckpoint } from './checkpoint.ts';

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
// How long a starting agent waits for the API server's list of its pods before running the
// checkpoint's instead (a failed Lease renewal decides sooner): a reachable server answers in
// well under a second, and the checkpoint's pods are nearly always the API server's anyway.
const checkpointAfterMs = 5_000;

export class NodeAgent {
  private client!: AgentClient;
  /** Loaded after the first heartbeat: dockerode and its gRPC dependencies take a board a while to load. */
  private runtime!: ContainerRuntime;
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
  private images!: ImageCache;
  private readonly starts: StartQueue;
  private readonly events: EventRecorder<KubeObject>;
  private controlPlaneReachable = true;
  private reregistering = false;
  private heartbeats = 0;
  /** Resolved by the first failed Lease renewal: the control plane is not answering. */
  private readonly leaseFailures = deferred();
  private readonly checkpoint: PodCheckpoint;
  /** The log server's certificate: asked for at join, renewed while the agent runs. */
  private readonly servingCert: ServingCertificate;

  constructor(private readonly o: AgentOptions) {
    this.servingCert = new ServingCertificate({ dataDir: o.dataDir, nodeName: o.nodeName, ip: o.nodeIp, caPem: o.ca, logger: o.logger });
    this.starts = new StartQueue(o.parallelStarts);
    this.checkpoint = new PodCheckpoint({ dataDir: o.dataDir, nodeName: o.nodeName, logger: o.logger });
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

  /**
   * The order is the point. The heartbeat goes first, from the credential on disk: an agent
   * restarted within the grace period must renew its Lease before the control plane gives up on
   * the node (6 s grace, 2 s toleration), and everything else (the engine, systeminformation,
   * images, the network) takes seconds on a board. Then the pods: from the API server, or, when
   * it does not answer, from the local checkpoint (checkpoint.ts), so a board rebooted during an
   * outage runs its pods anyway. Registration goes on in the background meanwhile.
   */
  private async run(): Promise<void> {
    const { o } = this;
    const log = o.logger;
    const token = await obtainCredential(this.joinOptions());
    this.client = new AgentClient({ server: o.server, token, ca: o.ca, userAgent: `${agentVersion}/${o.nodeName}` });
    void this.background('serving certificate renewal', renewServingCert({
      certificate: this.servingCert, client: this.client, nodeName: o.nodeName, logger: log, signal: this.abort.signal, sleep: this.wakeup.sleep,
    }));
    this.startLease();
    const checkpointed = this.checkpoint.load();
    this.runtime = o.runtime ?? new (await import('./runtime/docker.ts')).DockerRuntime(o.dockerSocket);
    this.images = new ImageCache(this.runtime);

    const version = await this.retry('the container engine', () => this.runtime.version());
    const loaded = await loadAirgapImages(this.runtime, join(o.dataDir, 'images'), log)
      .catch((err: unknown) => { log.error({ err: (err as Error).message }, 'airgap images not loaded'); return []; });
    if (loaded.length) log.info({ loaded }, 'airgap images loaded');
    const facts = await (await import('./host.ts')).measureFacts();
    this.logServer = await startLogServer({ runtime: this.runtime, nodeName: o.nodeName, ip: o.nodeIp, port: o.logPort, caPem: o.ca, dataDir: o.dataDir, logger: log, certificate: this.servingCert });
    void this.logServer.bound.then((port) => this.logServerBound(port));
    this.inputs = { name: o.nodeName, ip: o.nodeIp, port: this.logServer.port || o.logPort, facts, reserve: o.reserve, maxPods: o.maxPods, runtimeVersion: version.version };
    const registered = this.register().then((node) => this.startStatus(node));
    registered.catch(() => undefined); // awaited below; this only keeps a stop meanwhile from being an unhandled rejection

    this.watchEngine('docker event stream', (signal) => this.runtime.watchEvents({ [labelKeys.node]: o.nodeName }, (e) => this.containerEvent(e), signal));
    this.watchEngine('docker image event stream', (signal) => this.runtime.watchImageEvents(() => this.images.clear(), signal));
    // Pods from the API server start once the Services are known (their variables go into the
    // containers); while the API server does not answer, the checkpoint's start without them.
    const { synced: networkSynced } = await this.startServiceNetwork();
    const offline = this.unreachable().then(() => false);
    let online = await Promise.race([networkSynced.then(() => true), offline]);
    if (online) {
      this.startPodInformer(facts);
      online = await Promise.race([this.informer!.waitForSync().then(() => true), offline]);
    }
    if (!online) this.runCheckpointedPods(facts, checkpointed);
    await networkSynced;
    if (!this.informer) this.startPodInformer(facts);
    await this.informer!.waitForSync();
    this.reconcileWithApi();
    this.startSweeps();
    await registered;
    log.info({ node: o.nodeName, ip: o.nodeIp, logPort: this.logServer.port }, 'agent ready');
  }

  /** Stops the agent; containers keep running (a restarted agent adopts them). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.timers.forEach((t) => clearInterval(t));
    this.lease?.stop();
    this.checkpoint.stop();
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
    return { server: o.server, ca: o.ca, joinToken: o.joinToken, nodeName: o.nodeName, dataDir: o.dataDir, logger: o.logger, currentToken, signal: this.abort.signal, sleep: this.wakeup.sleep, servingCert: this.servingCert };
  }

  /** Registers the Node (created, or brought up to date), re-joining first when the credential is refused. */
  private async register(): Promise<Node> {
    return this.retry('node registration', async () => {
      const node = buildNode({ ...this.inputs, images: await this.runtime.listImages() });
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

  /** The heartbeat: nothing but the credential and the API server needed, so it goes first. */
  private startLease(): void {
    const { o } = this;
    this.lease = new LeaseRenewer({
      client: this.client, nodeName: o.nodeName, intervalMs: o.leaseIntervalMs, logger: o.logger,
      onRenewed: (silentMs) => this.leaseRenewed(silentMs),
      onFailed: (err) => this.leaseFailed(err),
    }).start();
  }

  private startStatus(node: Node): void {
    const { o } = this;
    this.status = new NodeStatusReporter({
      client: this.client, runtime: this.runtime, inputs: this.inputs, logger: o.logger, delay: this.informerDelay,
      onWriteFailed: (err) => { if (isUnauthorized(err) || isNotFound(err)) this.reregister(); },
      onDeleted: () => this.reregister(),
    }).start(node);
  }

  private leaseRenewed(silentMs: number): void {
    if (!this.heartbeats++) this.o.logger.debug({ sinceProcessStartMs: Math.round(process.uptime() * 1000) }, 'node lease renewed by the agent');
    // Silent for more than two intervals and a second: the control plane may have marked the node
    // Unknown meanwhile although no renewal failed (a newer one overtook it). Say Ready again.
    if (this.controlPlaneReachable && silentMs > 2 * this.o.leaseIntervalMs + 1_000) {
      this.o.logger.info({ silentMs }, 'the lease renewed after a silence; saying Ready again');
      this.controlPlaneBack();
      return;
    }
    this.reachable();
  }

  /** The Lease renewed: the first renewal after an outage ends it. */
  private reachable(): void {
    if (this.controlPlaneReachable) return;
    this.controlPlaneReachable = true;
    this.o.logger.info('the control plane answers again');
    this.controlPlaneBack();
  }

  private leaseFailed(err: unknown): void {
    this.leaseFailures.resolve();
    // Before the first registration, run() is registering (and re-joins on a 401 itself).
    if (isUnauthorized(err)) return this.status ? this.reregister() : undefined;
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

  /**
   * After an outage: watches resume on fresh connections, waiting retries go now (whatever their
   * backoff grew to meanwhile), the Node says Ready, and every pod reports its status at once
   * instead of at its next retry.
   */
  private controlPlaneBack(): void {
    this.client.restartWatches();
    this.wakeup.wake();
    this.status?.writeNow();
    this.workers.forEach((w) => this.background('pod sync', w.trigger()));
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
      add: (pod) => { this.podChanged(pod, facts); this.saveCheckpoint(); },
      // A change to status alone is (almost always) this agent's own write: nothing to do.
      update: (old, pod) => { if (!onlyStatusChanged(old, pod)) { this.podChanged(pod, facts); this.saveCheckpoint(); } },
      delete: (pod) => {
        const w = this.workers.get(pod.metadata.uid!);
        if (w) this.background('pod removal', w.remove());
        this.saveCheckpoint();
      },
    }).start();
  }

  /**
   * The pod network, Service proxy and DNS. Resolves once they are built, with `synced`, which
   * resolves once they know the cluster's Services (wrapped: an awaited promise of a promise
   * would wait for both).
   */
  private async startServiceNetwork(): Promise<{ synced: Promise<void> }> {
    const { o } = this;
    if ((o.podNetwork ?? 'none') === 'none') return { synced: Promise.resolve() };
    if (!isNetworkRuntime(this.runtime)) {
      o.logger.warn('this container runtime cannot create networks: pods stay on Docker\'s default bridge');
      return { synced: Promise.resolve() };
    }
    this.network = await ServiceNetwork.create({
      client: this.client, nodeName: o.nodeName, runtime: this.runtime, dataDir: o.dataDir, mode: o.podNetwork ?? 'none',
      clusterCIDR: o.clusterCidr ?? '10.42.0.0/16', dnsPort: o.dnsPort ?? 53, logger: o.logger,
    });
    return { synced: this.network?.start() ?? Promise.resolve() };
  }

  // --- the local checkpoint: pods without the control plane

  /** Resolves when the API server looks unreachable: a Lease renewal failed, or the pods are not listed in time. */
  private unreachable(): Promise<void> {
    return Promise.race([this.leaseFailures.promise, this.wakeup.sleep(checkpointAfterMs, this.abort.signal)]);
  }

  /** The control plane does not answer: run the pods of the last checkpoint until it does. */
  private runCheckpointedPods(facts: Facts, pods: (Pod & KubeObject)[]): void {
    this.o.logger.warn({ pods: pods.length, checkpoint: this.checkpoint.path },
      'the control plane does not answer: running the pods of the local checkpoint until it does');
    for (const pod of pods) if (!this.workers.has(pod.metadata.uid!)) this.podChanged(pod, facts);
  }

  /** The API server answered: a pod run from the checkpoint that it no longer binds here (deleted meanwhile) is stopped. */
  private reconcileWithApi(): void {
    const bound = new Set(this.informer!.list().map((p) => p.metadata.uid));
    const stale = [...this.workers.values()].filter((w) => !bound.has(w.uid));
    if (stale.length) this.o.logger.info({ pods: stale.length }, 'stopping checkpointed pods the API server no longer binds to this node');
    for (const w of stale) this.background('pod removal', w.remove());
    this.saveCheckpoint();
  }

  /** The bound set may have changed: checkpoint it (the checkpoint writes only a real change). */
  private saveCheckpoint(): void {
    if (this.informer?.hasSynced) this.checkpoint.save(this.informer.list());
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

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}
