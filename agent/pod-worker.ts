/*
 * A pod worker: one per pod bound to this node. It reconciles what the pod asks for with what
 * the engine runs, one sync at a time, and reports status. Each step is a hook in hooks/.
 *
 *                 ┌──────────── pull-image fails ────────────┐
 *                 ▼                                           │
 *   (bound) ─► ContainerCreating ─► pull-image ─► create ─► start ─► Running ──probe──► Ready
 *                 │        ErrImagePull ⇄ ImagePullBackOff            │  exited / liveness failed
 *                 │        ImagePlatformMismatch ─► pod Failed        ▼
 *                 │                                  restartPolicy restarts it?
 *                 │                           yes: CrashLoopBackOff ─(backoff)─► create (restartCount+1)
 *                 │                           no:  Completed / Error ─► pod Succeeded / Failed
 *                 ▼
 *   deletionTimestamp, or the pod left this node (any state)
 *       ─► kill (SIGTERM, grace, SIGKILL, remove) ─► finish the deletion on the API server
 *
 * The engine is the source of truth for containers: restart counts live in container labels,
 * so a restarted agent adopts what runs instead of starting it again.
 */
import type { Logger } from 'pino';
import type { Container, Pod } from '../control-plane/api/core.ts';
import { deepEqual } from '../control-plane/api/objects.ts';
import { CrashBackoff, defaultBackoff, type BackoffSettings } from './backoff.ts';
import { ImageCache } from './image-cache.ts';
import { StartQueue } from './start-queue.ts';
import { createContainer } from './hooks/create.ts';
import { killContainers, stopContainer } from './hooks/kill.ts';
import { ContainerProber } from './hooks/probe.ts';
import { PullFailures, pullImage } from './hooks/pull-image.ts';
import { buildPodStatus, restartCountOf, statusChanged, type ContainerObservation, type PodStatus } from './hooks/report.ts';
import { startContainer } from './hooks/start.ts';
import type { Platform } from './images.ts';
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
}

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
  private readonly crashBackoffs = new Map<string, CrashBackoff>();
  private readonly pullBackoffs = new Map<string, { backoff: CrashBackoff; until: number; errorUntil: number; reason: string; message: string }>();
  private readonly probers = new Map<string, ContainerProber>();
  private readonly warned = new Set<string>();
  private readonly now: () => number;
  private readonly pullFailures: PullFailures;
  private readonly images: ImageCache;
  /** Containers this worker started whose `start` event has not arrived: that event is no news. */
  private readonly startedHere = new Set<string>();
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
    const containers = await runtime.listContainers({ [labelKeys.node]: nodeName, [labelKeys.uid]: this.uid });
    if (this.gone || pod.metadata.deletionTimestamp) return this.terminate(pod, containers);

    const observations: ContainerObservation[] = [];
    for (const spec of pod.spec.containers) {
      observations.push(await this.syncContainer(pod, spec, containers.filter((c) => c.labels[labelKeys.container] === spec.name)));
    }
    const live = new Set(observations.map((o) => o.current?.id));
    for (const [id, prober] of this.probers) if (!live.has(id)) { prober.stop(); this.probers.delete(id); }
    await this.report(pod, observations);
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
    if (!this.gone) await this.options.api.finishDeletion(pod);
    this.finished = true;
    clearTimeout(this.timer);
    this.options.onFinished?.();
  }

  private async syncContainer(pod: Pod, spec: Container, mine: ContainerInfo[]): Promise<ContainerObservation> {
    const { runtime } = this.options;
    const [current, previous, ...older] = [...mine].sort(byRestartCountDesc);
    // Keep the last dead container for `logs --previous`, as the kubelet does; no more.
    for (const old of older) await runtime.removeContainer(old.id);
    const obs: ContainerObservation = { spec, ready: false, started: false, ...(current && { current }), ...(previous && { previous }) };
    if (this.failure) return obs;

    if (!current) return this.startNew(pod, spec, 0, obs);
    if (current.status === 'created' && !current.error) {
      // Created before an agent restart but never started: start it now.
      const started = await startContainer(runtime, current.id);
      if (!started.ok) this.event(pod, 'Warning', 'Failed', `Error: ${started.message}`);
      return this.refresh(spec, current.id, obs);
    }
    if (current.status === 'running') return this.watchRunning(pod, spec, obs, current);
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
    return this.startNew(pod, spec, restartCountOf(current) + 1, obs);
  }

  private crashBackoffOf(name: string): CrashBackoff {
    let b = this.crashBackoffs.get(name);
    if (!b) this.crashBackoffs.set(name, b = new CrashBackoff(this.options.backoff ?? defaultBackoff));
    return b;
  }

  /** pull-image, create, start: a new container for `spec`, with `restartCount` restarts before it. */
  private async startNew(pod: Pod, spec: Container, restartCount: number, obs: ContainerObservation): Promise<ContainerObservation> {
    const { runtime, nodeName, nodeIp } = this.options;
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
    if (pulled.warning && !this.warned.has(`pull-${spec.image}`)) {
      this.warned.add(`pull-${spec.image}`);
      this.event(pod, 'Warning', 'PullFailedUsingLocalImage', pulled.warning);
    }
    if (pulled.pulled) this.event(pod, 'Normal', 'Pulled', `Successfully pulled image "${spec.image}"`);
    const { id, started } = await (this.options.starts ?? unlimited).run(async () => {
      const created = await createContainer(runtime, pod, spec, { nodeName, nodeIp, restartCount });
      this.startedHere.add(created);
      return { id: created, started: await startContainer(runtime, created) };
    });
    this.event(pod, 'Normal', 'Created', `Created container ${spec.name}`);
    if (started.ok) this.event(pod, 'Normal', 'Started', `Started container ${spec.name}`);
    else { this.startedHere.delete(id); this.event(pod, 'Warning', 'Failed', `Error: ${started.message}`); }
    return this.refresh(spec, id, { ...obs, ...(obs.current && isExited(obs.current) && { previous: obs.current }) });
  }

  /** Re-reads the container after starting it, so the first report already says Running. */
  private async refresh(spec: Container, id: string, obs: ContainerObservation): Promise<ContainerObservation> {
    const current = await this.options.runtime.inspectContainer(id);
    const next: ContainerObservation = { ...obs, ...(current && { current }) };
    delete next.waiting;
    if (current?.status === 'running') return this.watchRunning(this.pod, spec, next, current);
    return next;
  }

  /** probe: readiness and startup decide `ready`/`started`; a failed liveness probe stops the container. */
  private async watchRunning(pod: Pod, spec: Container, obs: ContainerObservation, current: ContainerInfo): Promise<ContainerObservation> {
    const hasProbes = spec.livenessProbe || spec.readinessProbe || spec.startupProbe;
    if (!hasProbes) return { ...obs, ready: true, started: true };
    let prober = this.probers.get(current.id);
    if (!prober) {
      prober = new ContainerProber({
        container: spec, runtime: this.options.runtime, onChange: () => void this.trigger(),
        target: { containerId: current.id, ...(current.ip && { ip: current.ip }), ports: spec.ports },
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
  private async report(pod: Pod, observations: ContainerObservation[]): Promise<void> {
    const status = buildPodStatus(pod, observations, { hostIp: this.options.nodeIp, ...(this.failure && { failure: this.failure }) });
    if (!statusChanged(pod.status, status) || deepEqual(this.lastWritten, status)) return;
    try {
      await this.options.api.writeStatus(pod, status);
      this.lastWritten = status;
    } catch (err) {
      this.options.logger?.debug({ pod: this.key, err: (err as Error).message }, 'status write failed; will retry');
      this.wake(this.now() + apiRetryMs);
    }
  }
}
