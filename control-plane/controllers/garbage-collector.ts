// The garbage collector: deletes objects whose owners are gone, and carries out the two
// deletion policies that need help from a controller. `orphan` (kubectl delete
// --cascade=orphan): remove the owner's reference from every dependent, then the finalizer.
// `foregroundDeletion`: delete the dependents first and remove the owner's finalizer once no
// dependent with blockOwnerDeletion is left. Background deletion needs nothing special: the
// owner goes at once and its dependents, now without an owner, follow.
//
// It keeps a graph of owner uid -> dependents from informers on every kind but Events. Before it
// deletes anything because an owner is missing it asks the API server, both for the dependent
// (its references may have changed) and for the owner (the cache may not have seen it yet), as
// Kubernetes' attemptToDeleteItem does. It also deletes Events older than Kubernetes' event TTL.
import type { Logger } from 'pino';
import { isConflict, isNotFound } from '../api/errors.ts';
import type { KubeObject, OwnerReference } from '../api/meta.ts';
import { resourceFor, resources, type ResourceType } from '../api/resources.ts';
import type { KubeClient } from '../client/client.ts';
import { objectKey } from '../client/informer.ts';
import { WorkQueue } from '../client/workqueue.ts';
import type { InformerLike } from './pod-template.ts';
import { runWorkers } from './runner.ts';

export const orphanFinalizer = 'orphan';
export const foregroundFinalizer = 'foregroundDeletion';

const events = resourceFor('', 'events')!;
// Kubernetes' --event-ttl default: Events are for recent history, not an archive.
export const defaultEventTtlMs = 60 * 60_000;
// A lab never restarts its control plane, so stale Events are swept on a timer; every ten
// minutes keeps them within 10% of the TTL without listing every Event often.
const defaultEventSweepIntervalMs = 10 * 60_000;
// Read-modify-write of one object retries a few conflicts inline before handing back to the queue.
const conflictRetries = 3;

/** Every kind the collector watches: owners and dependents alike. Events have their TTL instead. */
export const collectedResources: readonly ResourceType[] = resources.filter((r) => r.kind !== 'Event');

export interface Watched { resource: ResourceType; informer: InformerLike<KubeObject> }

export interface GarbageCollectorOptions {
  client: KubeClient;
  watched: Watched[];
  logger?: Logger;
  eventTtlMs?: number;
  eventSweepIntervalMs?: number;
  now?: () => Date;
}

const resourceId = (r: ResourceType) => `${r.group}/${r.plural}`;
const hasFinalizer = (obj: KubeObject, f: string) => obj.metadata.finalizers?.includes(f) ?? false;
const waitingForDependents = (obj: KubeObject) => !!obj.metadata.deletionTimestamp && hasFinalizer(obj, foregroundFinalizer);

export class GarbageCollector {
  readonly queue = new WorkQueue();
  private readonly client: KubeClient;
  private readonly watched = new Map<string, Watched>();
  /** uid -> queue key (`group/plural|namespace/name`). */
  private readonly byUid = new Map<string, string>();
  /** owner uid -> queue keys of its dependents. */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly logger?: Logger;
  private readonly eventTtlMs: number;
  private readonly eventSweepIntervalMs: number;
  private readonly now: () => Date;
  private sweepTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(options: GarbageCollectorOptions) {
    this.client = options.client;
    if (options.logger) this.logger = options.logger;
    this.eventTtlMs = options.eventTtlMs ?? defaultEventTtlMs;
    this.eventSweepIntervalMs = options.eventSweepIntervalMs ?? defaultEventSweepIntervalMs;
    this.now = options.now ?? (() => new Date());
    for (const w of options.watched) {
      const id = resourceId(w.resource);
      this.watched.set(id, w);
      w.informer.on({
        add: (obj) => this.observe(id, undefined, obj),
        update: (old, obj) => this.observe(id, old, obj),
        delete: (obj) => this.forgetObject(id, obj),
      });
    }
  }

  async run(workers = 2): Promise<void> {
    await Promise.all([...this.watched.values()].map((w) => w.informer.waitForSync()));
    this.scheduleSweep();
    await runWorkers(this.queue, workers, (key) => this.sync(key), this.logger);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.queue.shutDown();
  }

  /** Processes one object: a deleting owner's finalizer, or a dependent whose owners may be gone. */
  async sync(key: string): Promise<void> {
    const found = this.lookup(key);
    if (!found) return;
    const { resource, obj } = found;
    if (obj.metadata.deletionTimestamp) {
      if (hasFinalizer(obj, orphanFinalizer)) await this.orphanDependents(resource, obj);
      else if (hasFinalizer(obj, foregroundFinalizer)) await this.deleteDependentsFirst(resource, obj);
      return;
    }
    if ((obj.metadata.ownerReferences?.length ?? 0) > 0) await this.attemptToDelete(resource, obj);
  }

  /** Deletes Events last seen more than the TTL ago; returns how many it deleted. */
  async sweepEvents(): Promise<number> {
    const cutoff = this.now().getTime() - this.eventTtlMs;
    const list = await this.client.list(events);
    let deleted = 0;
    for (const ev of list.items) {
      const seen = Date.parse(String(ev.lastTimestamp ?? ev.eventTime ?? ev.firstTimestamp ?? ev.metadata.creationTimestamp ?? ''));
      if (!Number.isFinite(seen) || seen >= cutoff) continue;
      try {
        await this.client.delete(events, ev.metadata.namespace, ev.metadata.name!, { preconditions: { uid: ev.metadata.uid! } });
        deleted++;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return deleted;
  }

  // ---- dependents whose owners are gone ----

  private async attemptToDelete(resource: ResourceType, cached: KubeObject): Promise<void> {
    let verdict = await this.classify(cached, true);
    if (verdict.dangling.length === 0 && verdict.waiting.length === 0) return;
    // About to act on it: read the dependent itself live, as its references may have changed.
    const obj = await this.getLive(resource, cached.metadata.namespace, cached.metadata.name!);
    if (!obj || obj.metadata.uid !== cached.metadata.uid || obj.metadata.deletionTimestamp) return;
    verdict = await this.classify(obj, false);
    const { solid, dangling, waiting } = verdict;
    if (dangling.length === 0 && waiting.length === 0) return;
    if (solid.length > 0) {
      // Other owners still hold it: only drop the references to the ones that are going.
      const gone = new Set([...dangling, ...waiting].map((r) => r.uid));
      await this.updateLive(resource, obj, (o) => {
        o.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((r) => !gone.has(r.uid));
      });
      return;
    }
    // Its own dependents go first when an owner is being deleted in the foreground.
    const policy = hasFinalizer(obj, orphanFinalizer) ? 'Orphan'
      : hasFinalizer(obj, foregroundFinalizer) || (waiting.length > 0 && this.hasDependents(obj)) ? 'Foreground' : 'Background';
    this.logger?.info({ kind: obj.kind, object: objectKey(obj), policy, dangling: dangling.map((r) => r.name) }, 'deleting dependent');
    await this.deleteLive(resource, obj, policy);
  }

  /** Sorts an object's owners into existing, missing and being-deleted-in-the-foreground. */
  private async classify(obj: KubeObject, cacheOnly: boolean): Promise<{ solid: OwnerReference[]; dangling: OwnerReference[]; waiting: OwnerReference[] }> {
    const solid: OwnerReference[] = [];
    const dangling: OwnerReference[] = [];
    const waiting: OwnerReference[] = [];
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const owner = await this.owner(obj, ref, cacheOnly);
      if (owner === undefined) dangling.push(ref);
      else if (owner !== 'unverifiable' && waitingForDependents(owner)) waiting.push(ref);
      else solid.push(ref);
    }
    return { solid, dangling, waiting };
  }

  /**
   * The owner a reference points to: from the cache, else (unless cacheOnly) from the API.
   * `undefined` means it does not exist (or a different object has its name).
   */
  private async owner(dependent: KubeObject, ref: OwnerReference, cacheOnly: boolean): Promise<KubeObject | 'unverifiable' | undefined> {
    const key = this.byUid.get(ref.uid);
    const cached = key ? this.lookup(key)?.obj : undefined;
    if (cached?.metadata.uid === ref.uid) return cached;
    const resource = ownerResource(ref);
    // A kind labkube does not serve cannot be checked: never delete on a guess.
    if (!resource) return 'unverifiable';
    if (cacheOnly) return undefined;
    const live = await this.getLive(resource, resource.namespaced ? dependent.metadata.namespace : undefined, ref.name);
    return live?.metadata.uid === ref.uid ? live : undefined;
  }

  // ---- orphan and foreground deletion ----

  private async orphanDependents(resource: ResourceType, owner: KubeObject): Promise<void> {
    const uid = owner.metadata.uid!;
    for (const { resource: r, obj } of await this.liveDependents(owner)) {
      await this.updateLive(r, obj, (o) => {
        o.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== uid);
      });
    }
    await this.removeFinalizer(resource, owner, orphanFinalizer);
  }

  private async deleteDependentsFirst(resource: ResourceType, owner: KubeObject): Promise<void> {
    const uid = owner.metadata.uid!;
    const cachedDependents = [...(this.dependents.get(uid) ?? [])].map((k) => this.lookup(k)).filter((x) => x !== undefined);
    for (const { obj } of cachedDependents) {
      if (!obj.metadata.deletionTimestamp || waitingForDependents(obj)) this.queue.add(this.keyOf(obj));
    }
    const blocking = (obj: KubeObject) => obj.metadata.ownerReferences?.some((r) => r.uid === uid && r.blockOwnerDeletion === true);
    if (cachedDependents.some(({ obj }) => blocking(obj))) return; // their deletion requeues the owner
    // The cache says none are left: make sure before letting the owner go.
    if ((await this.liveDependents(owner)).some(({ obj }) => blocking(obj))) return;
    await this.removeFinalizer(resource, owner, foregroundFinalizer);
  }

  /** Dependents listed from the API, not the cache: one the cache has not seen yet must not be missed. */
  private async liveDependents(owner: KubeObject): Promise<{ resource: ResourceType; obj: KubeObject }[]> {
    const uid = owner.metadata.uid!;
    const found: { resource: ResourceType; obj: KubeObject }[] = [];
    for (const { resource } of this.watched.values()) {
      // A namespaced owner can only have dependents in its own namespace.
      if (owner.metadata.namespace && !resource.namespaced) continue;
      const list = await this.client.list(resource, resource.namespaced ? owner.metadata.namespace : undefined);
      for (const obj of list.items) {
        if (obj.metadata.ownerReferences?.some((r) => r.uid === uid)) found.push({ resource, obj });
      }
    }
    return found;
  }

  private async removeFinalizer(resource: ResourceType, obj: KubeObject, finalizer: string): Promise<void> {
    await this.updateLive(resource, obj, (o) => {
      const rest = (o.metadata.finalizers ?? []).filter((f) => f !== finalizer);
      if (rest.length > 0) o.metadata.finalizers = rest;
      else delete o.metadata.finalizers;
    });
  }

  // ---- API helpers ----

  private async getLive(resource: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
    try {
      return await this.client.get(resource, namespace, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Read-modify-write with the object's resourceVersion, re-reading on conflict; gone is done. */
  private async updateLive(resource: ResourceType, start: KubeObject, change: (obj: KubeObject) => void): Promise<void> {
    let current: KubeObject | undefined = start;
    for (let attempt = 0; ; attempt++) {
      if (!current || current.metadata.uid !== start.metadata.uid) return;
      const next = structuredClone(current);
      change(next);
      try {
        await this.client.update(resource, next);
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt >= conflictRetries) throw err;
      }
      current = await this.getLive(resource, start.metadata.namespace, start.metadata.name!);
    }
  }

  private async deleteLive(resource: ResourceType, obj: KubeObject, propagationPolicy: string): Promise<void> {
    try {
      await this.client.delete(resource, obj.metadata.namespace, obj.metadata.name!, { propagationPolicy, preconditions: { uid: obj.metadata.uid! } });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  // ---- the graph ----

  private keyOf(obj: KubeObject): string {
    return this.byUid.get(obj.metadata.uid!) ?? '';
  }

  private lookup(key: string): { resource: ResourceType; obj: KubeObject } | undefined {
    const bar = key.indexOf('|');
    const w = this.watched.get(key.slice(0, bar));
    const obj = w?.informer.get(key.slice(bar + 1));
    return w && obj ? { resource: w.resource, obj } : undefined;
  }

  private hasDependents(obj: KubeObject): boolean {
    return (this.dependents.get(obj.metadata.uid!)?.size ?? 0) > 0;
  }

  private link(key: string, obj: KubeObject): void {
    for (const ref of obj.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(ref.uid);
      if (!set) { set = new Set(); this.dependents.set(ref.uid, set); }
      set.add(key);
    }
  }

  private unlink(key: string, obj: KubeObject): void {
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const set = this.dependents.get(ref.uid);
      set?.delete(key);
      if (set?.size === 0) this.dependents.delete(ref.uid);
    }
  }

  /** Owners being deleted in the foreground look again when one of their dependents changes. */
  private wakeWaitingOwners(obj: KubeObject): void {
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const key = this.byUid.get(ref.uid);
      const owner = key ? this.lookup(key)?.obj : undefined;
      if (key && owner && owner.metadata.deletionTimestamp) this.queue.add(key);
    }
  }

  private observe(id: string, old: KubeObject | undefined, obj: KubeObject): void {
    const key = `${id}|${objectKey(obj)}`;
    if (old) { this.unlink(key, old); this.wakeWaitingOwners(old); }
    this.byUid.set(obj.metadata.uid!, key);
    this.link(key, obj);
    const finalizing = obj.metadata.deletionTimestamp && (hasFinalizer(obj, orphanFinalizer) || hasFinalizer(obj, foregroundFinalizer));
    if (finalizing || (obj.metadata.ownerReferences?.length ?? 0) > 0) this.queue.add(key);
    if (old) this.wakeWaitingOwners(obj);
  }

  private forgetObject(id: string, obj: KubeObject): void {
    const key = `${id}|${objectKey(obj)}`;
    this.unlink(key, obj);
    if (this.byUid.get(obj.metadata.uid!) === key) this.byUid.delete(obj.metadata.uid!);
    // Its dependents may now have no owner; its foreground-deleting owners may now be free to go.
    for (const dependent of this.dependents.get(obj.metadata.uid!) ?? []) this.queue.add(dependent);
    this.wakeWaitingOwners(obj);
  }

  private scheduleSweep(): void {
    // A run whose caches synced just as it was stopped must not start the sweep again.
    if (this.stopped) return;
    this.sweepTimer = setTimeout(() => {
      void this.sweepEvents()
        .catch((err: unknown) => this.logger?.warn({ err: (err as Error).message }, 'event TTL sweep failed'))
        .finally(() => { if (this.sweepTimer) this.scheduleSweep(); });
    }, this.eventSweepIntervalMs);
    // Housekeeping: it never keeps a process (a test, a stopping server) alive on its own.
    this.sweepTimer.unref();
  }
}

function ownerResource(ref: OwnerReference): ResourceType | undefined {
  const [group, version] = ref.apiVersion.includes('/') ? ref.apiVersion.split('/') : ['', ref.apiVersion];
  return collectedResources.find((r) => r.kind === ref.kind && r.group === group && r.version === version);
}
