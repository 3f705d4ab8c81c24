// Pod templates and pod states, as the workload controllers see them: the template hash that
// names a Deployment's ReplicaSets, template equality that ignores that hash, the readiness and
// availability rules every count in a status is made of, and the controller-reference rules
// (adopt matching orphans, release strays) that the Deployment and ReplicaSet controllers share.
import type { Pod, PodTemplateSpec } from '../api/core.ts';
import { isNotFound } from '../api/errors.ts';
import { matches, type Selector } from '../api/labels.ts';
import type { KubeObject, OwnerReference } from '../api/meta.ts';
import { canonicalJson, deepEqual, findCondition } from '../api/objects.ts';
import type { InformerHandlers } from '../client/informer.ts';
import type { EventType } from './events.ts';

export type PodObject = Pod & KubeObject;

/** The label a Deployment adds to its ReplicaSets' selectors and templates, as Kubernetes names it. */
export const podTemplateHashLabel = 'pod-template-hash';

// Kubernetes' rand.SafeEncodeString alphabet: no vowels, so a hash never spells a word.
const safeAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

function fnv32a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * The `pod-template-hash` of a template: FNV-32a of the template (and the collision count, so a
 * collision yields a new name), written as Kubernetes writes it: the decimal digits of the hash
 * mapped through the safe alphabet.
 */
export function computeHash(template: PodTemplateSpec, collisionCount?: number): string {
  let text = canonicalJson(template);
  if (collisionCount) text += `#${collisionCount}`;
  return [...String(fnv32a(text))].map((d) => safeAlphabet[Number(d)]).join('');
}

function withoutHashLabel(template: PodTemplateSpec): PodTemplateSpec {
  const copy = structuredClone(template);
  if (copy.metadata?.labels) {
    delete copy.metadata.labels[podTemplateHashLabel];
    if (Object.keys(copy.metadata.labels).length === 0) delete copy.metadata.labels;
  }
  if (copy.metadata && Object.keys(copy.metadata).length === 0) delete copy.metadata;
  return copy;
}

/** Whether two templates are the same apart from the hash label (how a Deployment finds its new ReplicaSet). */
export function templatesEqualIgnoringHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  if (!a || !b) return a === b;
  return deepEqual(withoutHashLabel(a), withoutHashLabel(b));
}

/** The owner reference with controller=true, if the object has one. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

export function controllerRefTo(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name!, uid: owner.metadata.uid!,
    controller: true, blockOwnerDeletion: true,
  };
}

export function isPodReady(pod: PodObject): boolean {
  return findCondition(pod.status?.conditions, 'Ready')?.status === 'True';
}

/** Ready for at least minReadySeconds, by the Ready condition's lastTransitionTime. */
export function isPodAvailable(pod: PodObject, minReadySeconds: number, now: Date): boolean {
  const ready = findCondition(pod.status?.conditions, 'Ready');
  if (ready?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  if (!ready.lastTransitionTime) return false;
  return Date.parse(ready.lastTransitionTime) + minReadySeconds * 1000 <= now.getTime();
}

/** Neither finished nor being deleted: a pod that counts as one of a ReplicaSet's replicas. */
export function isPodActive(pod: PodObject): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata.deletionTimestamp;
}

// ---- Ownership: what the workload controllers share about controller references ----

/** What a controller reads from an informer; tests hand in a fixture with the same shape. */
export interface InformerLike<T extends KubeObject> {
  on(handlers: InformerHandlers<T>): unknown;
  get(key: string): T | undefined;
  list(): T[];
  waitForSync(): Promise<void>;
}

/** What a controller needs to record Events; EventRecorder is one, tests pass a list. */
export interface Recorder { record(obj: KubeObject, type: EventType, reason: string, message: string): void }

export interface ClaimOptions<T extends KubeObject> {
  owner: KubeObject;
  selector: Selector;
  candidates: T[];
  /** Adds the owner's controller reference to an orphan; NotFound means it is gone, which is fine. */
  adopt(obj: T): Promise<void>;
  /** Removes the owner's reference from an object that no longer matches. */
  release(obj: T): Promise<void>;
  /** Checked once before the first adoption: the owner (read live) still exists and is not being deleted. */
  canAdopt(): Promise<boolean>;
}

/**
 * Kubernetes' ControllerRefManager: returns the candidates the owner controls after adopting
 * matching orphans and releasing owned objects that stopped matching. Objects controlled by
 * someone else are never touched.
 */
export async function claimOwned<T extends KubeObject>(options: ClaimOptions<T>): Promise<T[]> {
  const { owner, selector, candidates } = options;
  const claimed: T[] = [];
  const errors: unknown[] = [];
  let adoptable: boolean | undefined;
  for (const obj of candidates) {
    const ref = controllerOf(obj);
    const selected = matches(selector, obj.metadata.labels);
    try {
      if (ref) {
        if (ref.uid !== owner.metadata.uid) continue;
        if (selected) { claimed.push(obj); continue; }
        if (owner.metadata.deletionTimestamp) continue;
        await ignoreNotFound(options.release(obj));
        continue;
      }
      if (!selected || owner.metadata.deletionTimestamp || obj.metadata.deletionTimestamp) continue;
      adoptable ??= await options.canAdopt();
      if (!adoptable) continue;
      if (await ignoreNotFound(options.adopt(obj))) claimed.push(obj);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
  return claimed;
}

/** Resolves to true when the write happened, false when the object was already gone. */
async function ignoreNotFound(write: Promise<void>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * A merge patch that sets `ownerReferences` only if the object is still at the revision we read,
 * so two controllers racing to adopt the same orphan cannot both win.
 */
export function ownerReferencesPatch(obj: KubeObject, refs: OwnerReference[]): unknown {
  return { metadata: { resourceVersion: obj.metadata.resourceVersion, ownerReferences: refs.length > 0 ? refs : null } };
}
