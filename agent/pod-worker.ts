/*
 * A pod worker: one per pod bound to this node. It reconciles what the pod asks for with what
 * the engine runs, one sync at a time, and reports status. Each step is a hook in hooks/.
 *
 *                 ┌──────────── pull-image fails ────────────┐
 *                 ▼                                           │
 *   (bound) ─► ContainerCreating ─► sandbox ─► pull-image ─► create ─► start ─► Running ──probe──► Ready
 *                 │        ErrImagePull ⇄ ImagePullBackOff            │  exited / liveness failed
 *                 │        ImagePlatformMismatch ─► pod Failed        ▼
 *                 │                                  restartPolicy restarts it?
 *                 │                           yes: CrashLoopBackOff ─(backoff)─► create (restartCount+1)
 *                 │                           no:  Completed / Error ─► pod Succeeded / Failed
 *                 ▼
 *   deletionTimestamp, or the pod left this node (any state)
 *       ─► kill (SIGTERM, grace, SIGKILL, remove) ─► finish the deletion on the API server
 *
 * With a pod network, the sandbox (hooks/sandbox.ts) comes first and its namespace is the pod's:
 * a sandbox that died takes the network with it, so every app container is stopped and a new
 * sandbox made; the restart policy then restarts them in it (the kubelet's SandboxChanged).
 *
 * The engine is the source of truth for containers: restart counts live in container labels,
 * so a restarted agent adopts what runs instead of starting it again.
 */
import type { Logger } from 'pino';
import type { Container, Pod } from '../control-plane/api/core.ts';
import { CrashBackoff, defaultBackoff, type BackoffSettings } from './backoff.ts';
import { ImageCache } from './image-cache.ts';
import { StartQueue } from './start-queue.ts';
import { createContainer, type CreateContext } from './hooks/create.ts';
import { killContainers, stopContainer } from './hooks/kill.ts';
import { isSandbox, sandboxConfig } from './hooks/sandbox.ts';
import { ContainerProber } from './hooks/probe.ts';
import { PullFailures, pullImage } from './hooks/pull-image.ts';
import { buildPodStatus, restartCountOf, statusChanged, type ContainerObservation, type PodStatus } from './hooks/report.ts';
import { startContainer } from './hooks/start.ts';
import type { Platform } from './images.ts';
import type { PodSandboxNetwork } from './network/pod-network.ts';
import { labelKeys, type ContainerInfo, type ContainerRuntime, type RuntimeEvent } from './runtime/types.ts';

/** What a worker needs from the API server; the agent implements it over KubeClient. */
export interface PodApi {
  writeStatus(pod: Pod, status: PodStatus): Promise<void>;
  /** DELETE with gracePeriodSeconds=0 and a uid precondition; a pod already gone is fine. */
  finishDeletion(pod: Pod): Promise<void>;
  /** Records an Event; never throws (an offline agent keeps working). */
  event(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

export interface PodWorkerOptions {
  pod: Pod;
  runtime: ContainerRuntime;
  api: PodApi;
  nodeName: string;
  nodeIp: string;
  platform: Platform;
  pullFailures?: PullFailures;
  /** Shared by the agent's workers, so a burst of replicas inspects their image once. */
  images?: ImageCache;
  /** Shared by the agent's workers: how many containers are created and started at once. */
  starts?: StartQueue;
  backoff?: BackoffSettings;
  logger?: Logger;
  now?: () => number;
  /** Called once the pod's containers are gone and its deletion is finished. */
  onFinished?: () => void;
  /** The pod network: each pod gets a sandbox on it. Absent: every container on Docker's default bridge. */
  podNetwork?: PodSandboxNetwork;
  /** The Service variables for a pod in `namespace` (network/service-env.ts), put before each container's own env. */
  serviceEnv?: (namespace: string, enableServiceLinks: boolean) => string[];
}

/** Where the pod's containers live: a sandbox's namespace, the host's, or each its own (no pod network). */
type PodNetworking =
  | { kind: 'sandbox'; id: string; ip?: string; stoppedApps?: boolean }
  | { kind: 'host' }
  | { kind: 'own' }
  | { kind: 'waiting'; message: string };

// Kubernetes' default terminationGracePeriodSeconds.
const defaultGraceSeconds = 30;
// A container whose pod vanished from the API has no one waiting on a graceful stop; orphans
// must be gone within 5 s of the agent learning of them.
const orphanGraceSeconds = 1;
// How soon a failed API write (status, final delete) is retried; an offline agent keeps trying.
const apiRetryMs = 3_000;
// How long ErrImagePull shows before ImagePullBackOff: long enough for a watcher to see it.
const errorVisibleMs = 1_000;

const unlimited = new StartQueue(Infinity);
const byRestartCountDesc = (a: ContainerInfo, b: ContainerInfo) => restartCountOf(b) - restartCountOf(a);
const isExited = (c: ContainerInfo) => c.status === 'exited' || c.status === 'dead' || (c.status === 'created' && !!c.error);
const ms = (t: string | undefined) => (t ? Date.parse(t) : 0);

function formatDelay(delayMs: number): string {
  const s = Math.round(delayMs / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}` : `${s}s`;
}

export class PodWorker {
  private pod: Pod;
  private gone = false;
  private finished = false;
  private syncing?: Promise<void>;
  private again = false;
  private timer?: NodeJS.Timeout;
  private wakeAt = Infinity;
  private failure?: { reason: string; message: string };
  private lastWritten?: PodStatus;
  private statusWriteFailing = false;
  private readonly crashBackoffs = new Map<string, CrashBackoff>();
  private readonly pullBackoffs = new Map<string, { backoff: CrashBackoff; until: number; errorUntil: number; reason: string; message: string }>();
  private readonly probers = new Map<string, ContainerProber>();
  private readonly warned = new Set<string>();
  private readonly now: () => number;
  private readonly pullFailures: PullFailures;
  private readonly images: ImageCache;
  /** Containers this worker started whose `start` event has not arrived: that event is no news. */
  private readonly startedHere = new Set<string>();
  /** The last sandbox failure reported as an Event: a failure repeated each retry is told once. */
  private sandboxFailure?: string;
  /** Events of the sync in progress, recorded after its status write: Running shows first. */
  private readonly pendingEvents: Parameters<PodApi['event']>[] = [];

  constructor(private readonly options: PodWorkerOptions) {
    this.pod = options.pod;
    this.now = options.now ?? Date.now;
    this.pullFailures = options.pullFailures ?? new PullFailures();
    this.images = options.images ?? new ImageCache(options.runtime);
  }

  get uid(): string { return this.pod.metadata.uid!; }
  get isFinished(): boolean { return this.finished; }

  update(pod: Pod): Promise<void> { this.pod = pod; return this.trigger(); }

  /** The pod is no longer bound here (deleted, or rebound after a partition): remove its containers. */
  remove(): Promise<void> { this.gone = true; return this.trigger(); }

  /** Runs a sync now, or right after the one in progress. Resolves when that sync is done. */
  trigger(): Promise<void> {
    if (this.finished) return Promise.resolve();
    if (this.syncing) { this.again = true; return this.syncing; }
    this.syncing = (async () => {
      do {
        this.again = false;
        try {
          await this.sync();
        } catch (err) {
          this.options.logger?.warn({ pod: this.key, err: (err as Error).message }, 'pod sync failed');
          this.wake(this.now() + apiRetryMs);
        }
        this.flushEvents();
      } while (this.again && !this.finished);
      this.syncing = undefined;
    })();
    return this.syncing;
  }

  /**
   * An engine event for one of this pod's containers: sync, unless it is the `start` of a
   * container this worker just started and already reported (a burst of pods would otherwise
   * sync each one twice while the engine is busiest).
   */
  engineEvent(e: Pick<RuntimeEvent, 'action' | 'containerId'>): Promise<void> {
    if (e.action === 'start' && this.startedHere.delete(e.containerId)) return Promise.resolve();
    return this.trigger();
  }

  /** Stops timers and probes; leaves containers running (the agent is shutting down). */
  stop(): void {
    clearTimeout(this.timer);
    this.probers.forEach((p) => p.stop());
    this.probers.clear();
    this.finished = true;
  }

  private event(...e: Parameters<PodApi['event']>): void { this.pendingEvents.push(e); }
  /** Records the pending events: after the status write, or before a wait as long as a grace period. */
  private flushEvents(): void { for (const e of this.pendingEvents.splice(0)) this.options.api.event(...e); }

  private get key(): string { return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`; }

  private wake(at: number): void {
    if (at >= this.wakeAt && this.timer) return;
    clearTimeout(this.timer);
    this.wakeAt = at;
    this.timer = setTimeout(() => { this.timer = undefined; this.wakeAt = Infinity; void this.trigger(); }, Math.max(0, at - this.now()));
  }

  private async sync(): Promise<void> {
    const { runtime, nodeName } = this.options;
    const pod = this.pod;
    let containers = await runtime.listContainers({ [labelKeys.node]: nodeName, [labelKeys.uid]: this.uid });
    if (this.gone || pod.metadata.deletionTimestamp) return this.terminate(pod, containers);

    const net = await this.syncSandbox(pod, containers);
    // App containers stopped for a new sandbox: look at them as they are now.
    if (net.kind === 'sandbox' && net.stoppedApps) containers = await runtime.listContainers({ [labelKeys.node]: nodeName, [labelKeys.uid]: this.uid });
    const observations: ContainerObservation[] = [];
    for (const spec of pod.spec.containers) {
      const mine = containers.filter((c) => c.labels[labelKeys.container] === spec.name);
      observations.push(net.kind === 'waiting'
        ? { spec, ready: false, started: false, waiting: { reason: 'ContainerCreating', message: net.message } }
        : await this.syncContainer(pod, spec, mine, net));
    }
    const live = new Set(observations.map((o) => o.current?.id));
    for (const [id, prober] of this.probers) if (!live.has(id)) { prober.stop(); this.probers.delete(id); }
    const podIp = net.kind === 'sandbox' ? net.ip : net.kind === 'host' ? this.options.nodeIp : undefined;
    await this.report(pod, observations, podIp);
  }

  /**
   * sandbox: make sure the pod's network namespace exists before its containers. A dead sandbox
   * (or app containers in a namespace that is not the current sandbox's) means SandboxChanged:
   * stop the app containers, replace the sandbox, and let the restart policy start them again.
   */
  private async syncSandbox(pod: Pod, containers: ContainerInfo[]): Promise<PodNetworking> {
    const { runtime, podNetwork: net } = this.options;
    if (pod.spec.hostNetwork) return { kind: 'host' };
    if (!net) return { kind: 'own' };
    const [current, ...older] = containers.filter(isSandbox).sort(byRestartCountDesc);
    const apps = containers.filter((c) => !isSandbox(c));
    await killContainers(runtime, older, orphanGraceSeconds);
    const grace = pod.spec.terminationGracePeriodSeconds ?? defaultGraceSeconds;
    // A finished pod keeps its exited containers; its namespace goes once none of them runs, as the kubelet frees a finished pod's IP.
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
      if (current?.status === 'running' && !apps.some((c) => c.status === 'running')) await stopContainer(runtime, current, orphanGraceSeconds);
      return { kind: 'own' };
    }
    if (current?.status === 'running') {
      const strays = apps.filter((c) => c.status === 'running' && c.labels[labelKeys.sandbox] !== current.id);
      await Promise.all(strays.map((c) => stopContainer(runtime, c, grace)));
      return { kind: 'sandbox', id: current.id, ...(current.ip && { ip: current.ip }), stoppedApps: strays.length > 0 };
    }
    const changed = !!current || apps.some((c) => c.status === 'running' || c.status === 'created');
    if (changed) {
      this.event(pod, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
      this.flushEvents();
      await Promise.all(apps.filter((c) => c.status === 'running').map((c) => stopContainer(runtime, c, grace)));
      // A created, never started container would join the namespace about to go: it must go too.
      await Promise.all(apps.filter((c) => c.status === 'created').map((c) => runtime.removeContainer(c.id)));
      if (current) await runtime.removeContainer(current.id);
    }
    const attempt = current ? restartCountOf(current) + 1 : 0;
    try {
      if (!(await this.images.inspect(net.sandboxImage))) throw new Error(`the sandbox image ${net.sandboxImage} is not on this node (scripts/build-images.sh builds it)`);
      const config = sandboxConfig(pod, {
        nodeName: this.options.nodeName, nodeIp: this.options.nodeIp, attempt, image: net.sandboxImage,
        network: net.sandboxNetwork(), binds: await net.podMounts(pod),
      });
      const id = await (this.options.starts ?? unlimited).run(async () => {
        const created = await runtime.createContainer(config);
        this.startedHere.add(created);
        await runtime.startContainer(created);
        return created;
      });
      const sandbox = await runtime.inspectContainer(id);
      if (sandbox?.status !== 'running') throw new Error(`sandbox ${id.slice(0, 12)} is ${sandbox?.status ?? 'gone'}: ${sandbox?.error || 'it exited at once'}`);
      this.sandboxFailure = undefined;
      return { kind: 'sandbox', id, ...(sandbox.ip && { ip: sandbox.ip }), stoppedApps: changed };
    } catch (err) {
      const message = `Failed to create pod sandbox: ${(err as Error).message}`;
      if (message !== this.sandboxFailure) this.event(pod, 'Warning', 'FailedCreatePodSandBox', message);
      this.sandboxFailure = message;
      this.wake(this.now() + apiRetryMs);
      return { kind: 'waiting', message };
    }
  }

  private async terminate(pod: Pod, containers: ContainerInfo[]): Promise<void> {
    this.probers.forEach((p) => p.stop());
    this.probers.clear();
    const grace = this.gone ? orphanGraceSeconds
      : pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? defaultGraceSeconds;
    const running = containers.filter((c) => c.status === 'running');
    if (running.length > 0 && !this.gone) {
      this.event(pod, 'Normal', 'Killing', `Stopping container${running.length > 1 ? 's' : ''} ${running.map((c) => c.labels[labelKeys.container]).join(', ')}`);
    }
    this.flushEvents();
    await killContainers(this.options.runtime, containers, grace);
    await this.options.podNetwork?.releasePod(this.uid);
    if (!this.gone) await this.options.api.finishDeletion(pod);
    this.finished = true;
    clearTimeout(this.timer);
    this.options.onFinished?.();
  }

  private async syncContainer(pod: Pod, spec: Container, mine: ContainerInfo[], net: PodNetworking): Promise<ContainerObservation> {
    const { runtime } = this.options;
    const [current, previous, ...older] = [...mine].sort(byRestartCountDesc);
    // Keep the last dead container for `logs --previous`, as the kubelet does; no more.
    for (const old of older) await runtime.removeContainer(old.id);
    const obs: ContainerObservation = { spec, ready: false, started: false, ...(current && { current }), ...(previous && { previous }) };
    if (this.failure) return obs;

    if (!current) return this.startNew(pod, spec, 0, obs, net);
    if (current.status === 'created' && !current.error) {
      // Created before an agent restart but never started: start it now.
      const started = await startContainer(runtime, current.id);
      if (!started.ok) this.event(pod, 'Warning', 'Failed', `Error: ${started.message}`);
      return this.refresh(spec, current.id, obs, net);
    }
    if (current.status === 'running') return this.watchRunning(pod, spec, obs, current, net);
    if (!isExited(current)) return obs; // paused, restarting, removing: look again on the next event

    const policy = pod.spec.restartPolicy ?? 'Always';
    const failed = current.exitCode !== 0 || !!current.error;
    if (policy === 'Never' || (policy === 'OnFailure' && !failed)) return obs;
    const backoff = this.crashBackoffOf(spec.name);
    const readyAt = backoff.readyAt(ms(current.startedAt) || ms(current.createdAt), ms(current.finishedAt) || this.now());
    if (this.now() < readyAt) {
      obs.waiting = {
        reason: 'CrashLoopBackOff',
        message: `back-off ${formatDelay(backoff.currentDelayMs)} restarting failed container=${spec.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${this.uid})`,
      };
      this.wake(readyAt);
      if (!this.warned.has(`backoff-${restartCountOf(current)}`)) {
        this.warned.add(`backoff-${restartCountOf(current)}`);
        this.event(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
      }
      return obs;
    }
    backoff.restarted(this.now());
    if (previous) await runtime.removeContainer(previous.id);
    delete obs.previous;
    return this.startNew(pod, spec, restartCountOf(current) + 1, obs, net);
  }

  private crashBackoffOf(name: string): CrashBackoff {
    let b = this.crashBackoffs.get(name);
    if (!b) this.crashBackoffs.set(name, b = new CrashBackoff(this.options.backoff ?? defaultBackoff));
    return b;
  }

  /** pull-image, create, start: a new container for `spec`, with `restartCount` restarts before it. */
  private async startNew(pod: Pod, spec: Container, restartCount: number, obs: ContainerObservation, net: PodNetworking): Promise<ContainerObservation> {
    const { runtime } = this.options;
    const pullState = this.pullBackoffs.get(spec.name);
    if (pullState && this.now() < pullState.errorUntil) {
      obs.waiting = { reason: pullState.reason, message: pullState.message };
      this.wake(pullState.errorUntil);
      return obs;
    }
    if (pullState && this.now() < pullState.until) {
      obs.waiting = { reason: 'ImagePullBackOff', message: `Back-off pulling image "${spec.image}"` };
      this.wake(pullState.until);
      return obs;
    }
    const pulled = await pullImage(runtime, spec, this.options.platform, this.pullFailures, this.images);
    if (!pulled.ok) {
      this.event(pod, 'Warning', 'Failed', pulled.message);
      if (pulled.reason === 'ImagePlatformMismatch') {
        this.failure = { reason: pulled.reason, message: pulled.message };
        obs.waiting = { reason: pulled.reason, message: pulled.message };
        return obs;
      }
      const backoff = pullState?.backoff ?? new CrashBackoff(this.options.backoff ?? defaultBackoff);
      backoff.restarted(this.now());
      const until = this.now() + backoff.currentDelayMs;
      // The pull error itself stays visible a moment before the back-off replaces it, as in Kubernetes.
      const errorUntil = this.now() + Math.min(errorVisibleMs, backoff.currentDelayMs / 2);
      this.pullBackoffs.set(spec.name, { backoff, until, errorUntil, reason: pulled.reason, message: pulled.message });
      this.wake(errorUntil);
      obs.waiting = { reason: pulled.reason, message: pulled.message };
      this.wake(until);
      return obs;
    }
    this.pullBackoffs.delete(spec.name);
    // Said once per image by the whole agent (PullFailures), not by every pod that uses it.
    if (pulled.warning) {
      this.options.logger?.warn({ pod: this.key, image: spec.image }, pulled.warning);
      this.event(pod, 'Warning', 'PullFailedUsingLocalImage', pulled.warning);
    }
    if (pulled.pulled) this.event(pod, 'Normal', 'Pulled', `Successfully pulled image "${spec.image}"`);
    const { id, started } = await (this.options.starts ?? unlimited).run(async () => {
      const created = await createContainer(runtime, pod, spec, await this.createContext(pod, restartCount, net));
      this.startedHere.add(created);
      return { id: created, started: await startContainer(runtime, created) };
    });
    this.event(pod, 'Normal', 'Created', `Created container ${spec.name}`);
    if (started.ok) this.event(pod, 'Normal', 'Started', `Started container ${spec.name}`);
    else { this.startedHere.delete(id); this.event(pod, 'Warning', 'Failed', `Error: ${started.message}`); }
    return this.refresh(spec, id, { ...obs, ...(obs.current && isExited(obs.current) && { previous: obs.current }) }, net);
  }

  /** How a new container of the pod joins its network, with its mounts and environment. */
  private async createContext(pod: Pod, restartCount: number, net: PodNetworking): Promise<CreateContext> {
    const { nodeName, nodeIp, podNetwork, serviceEnv } = this.options;
    const links = (pod.spec as Pod['spec'] & { enableServiceLinks?: boolean }).enableServiceLinks ?? true;
    const extraEnv = serviceEnv?.(pod.metadata.namespace ?? 'default', links) ?? [];
    const binds = podNetwork && net.kind !== 'own' ? await podNetwork.podMounts(pod) : [];
    return {
      nodeName, nodeIp, restartCount,
      ...(net.kind === 'sandbox' && { sandboxId: net.id }),
      ...(net.kind === 'host' && { hostNetwork: true }),
      ...(binds.length && { binds }),
      ...(extraEnv.length && { extraEnv }),
    };
  }

  /** Re-reads the container after starting it, so the first report already says Running. */
  private async refresh(spec: Container, id: string, obs: ContainerObservation, net: PodNetworking): Promise<ContainerObservation> {
    const current = await this.options.runtime.inspectContainer(id);
    const next: ContainerObservation = { ...obs, ...(current && { current }) };
    delete next.waiting;
    if (current?.status === 'running') return this.watchRunning(this.pod, spec, next, current, net);
    return next;
  }

  /** probe: readiness and startup decide `ready`/`started`; a failed liveness probe stops the container. */
  private async watchRunning(pod: Pod, spec: Container, obs: ContainerObservation, current: ContainerInfo, net: PodNetworking): Promise<ContainerObservation> {
    const hasProbes = spec.livenessProbe || spec.readinessProbe || spec.startupProbe;
    if (!hasProbes) return { ...obs, ready: true, started: true };
    let prober = this.probers.get(current.id);
    if (!prober) {
      // Probes reach the pod's address: the sandbox's, or the node's for a host-network pod.
      const ip = net.kind === 'sandbox' ? net.ip : net.kind === 'host' ? this.options.nodeIp : current.ip;
      prober = new ContainerProber({
        container: spec, runtime: this.options.runtime, onChange: () => void this.trigger(),
        target: { containerId: current.id, ...(ip && { ip }), ports: spec.ports },
      }).start();
      this.probers.set(current.id, prober);
    }
    if (!prober.live) {
      this.event(pod, 'Warning', 'Unhealthy', prober.message);
      this.event(pod, 'Normal', 'Killing', `Container ${spec.name} failed liveness probe, will be restarted`);
      prober.stop();
      this.probers.delete(current.id);
      this.flushEvents();
      await stopContainer(this.options.runtime, current, pod.spec.terminationGracePeriodSeconds ?? defaultGraceSeconds);
      this.again = true; // the next sync sees it exited and applies the restart policy
      return { ...obs, ready: false, started: false };
    }
    return { ...obs, ready: prober.ready, started: prober.started };
  }

  /** report: write the status when it differs from what the API server has. */
  private async report(pod: Pod, observations: ContainerObservation[], podIp: string | undefined): Promise<void> {
    // The agent's informer skips status-only updates (agent.ts), so `pod` never shows this
    // worker's own writes: build on the last status written, or every resync would move the
    // conditions' lastTransitionTime and startTime and rewrite an unchanged pod (every 10 s).
    const known: Pod = this.lastWritten ? { ...pod, status: this.lastWritten } : pod;
    const status = buildPodStatus(known, observations, { hostIp: this.options.nodeIp, ...(podIp && { podIp }), ...(this.failure && { failure: this.failure }) });
    if (!statusChanged(known.status, status)) return;
    try {
      await this.options.api.writeStatus(pod, status);
      this.lastWritten = status;
      if (this.statusWriteFailing) this.options.logger?.info({ pod: this.key }, 'pod status written again');
      this.statusWriteFailing = false;
    } catch (err) {
      // The first failure since the last success is said at warn, so a Running that never reaches
      // the API server leaves a trace at the default level; the retries go at debug.
      const level = this.statusWriteFailing ? 'debug' : 'warn';
      this.statusWriteFailing = true;
      this.options.logger?.[level]({ pod: this.key, phase: status.phase, err: (err as Error).message }, 'pod status write failed; retrying');
      this.wake(this.now() + apiRetryMs);
    }
  }
}
