// Hook: make the container's image present, honouring imagePullPolicy with Kubernetes' defaults,
// and check that it fits the node's platform. A lab is often offline: when a pull fails and the
// image is already here, the local image runs and the caller records an Event saying so.
import type { Container } from '../../control-plane/api/core.ts';
import { defaultImageDomain, parseImageReference } from '../../control-plane/api/image-reference.ts';
import { ImageCache } from '../image-cache.ts';
import { imageFitsNode, type Platform } from '../images.ts';
import type { ContainerRuntime, ImageInfo } from '../runtime/types.ts';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export type PullResult =
  | { ok: true; image: ImageInfo; pulled: boolean; warning?: string }
  | { ok: false; reason: 'ErrImagePull' | 'ErrImageNeverPull' | 'ImagePlatformMismatch'; message: string };

/** Kubernetes' default: Always for `:latest` or no tag, IfNotPresent otherwise (a digest is pinned). */
export function pullPolicyOf(container: Pick<Container, 'image' | 'imagePullPolicy'>): PullPolicy {
  if (container.imagePullPolicy) return container.imagePullPolicy;
  const ref = container.image;
  if (ref.includes('@')) return 'IfNotPresent';
  const lastPart = ref.slice(ref.lastIndexOf('/') + 1);
  const tag = lastPart.includes(':') ? lastPart.slice(lastPart.indexOf(':') + 1) : 'latest';
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/**
 * What the agent learned from failed pulls, shared by every pod worker. An offline board learns
 * it is offline: a registry that could not be reached (a DNS failure, a timeout, a refused
 * connection) is not asked again for a while, 1 min doubling to 30 min, so an offline lab's pod
 * starts cost no DNS timeout each, and the local image runs at once. Other failures (no such tag
 * upstream, access denied) back off the same way for that one image. The warning that the local
 * image is used is said once per image, until a pull of it succeeds; any successful pull from a
 * registry ends its backoff. An image that is not here at all is always tried (nothing else could
 * run it), but not more than once per burst of pod starts.
 */
export class PullFailures {
  private readonly backoffs = new Map<string, { failures: number; retryAt: number; message: string }>();
  private readonly lastFailure = new Map<string, number>();
  private readonly warned = new Set<string>();

  constructor(private readonly o: PullFailureSettings = defaultPullFailureSettings, private readonly clock: () => number = Date.now) {}

  /** Why `ref` is not worth pulling now (its registry or the image itself is backing off), or undefined. */
  blocked(ref: string, now = this.clock()): { message: string; retryInMs: number } | undefined {
    for (const key of [registryKey(ref), imageKey(ref)]) {
      const b = this.backoffs.get(key);
      if (b && now < b.retryAt) return { message: b.message, retryInMs: b.retryAt - now };
    }
    return undefined;
  }

  /** A failure of `ref` within the burst window: an absent image is not pulled again by each replica. */
  recent(ref: string, now = this.clock()): boolean {
    const at = this.lastFailure.get(ref);
    return at !== undefined && now - at < this.o.burstMs;
  }

  /** Records a failed pull; returns how long its registry (or the image) is left alone. */
  failed(ref: string, message: string, now = this.clock()): number {
    this.lastFailure.set(ref, now);
    const key = isUnreachable(message) ? registryKey(ref) : imageKey(ref);
    const failures = (this.backoffs.get(key)?.failures ?? 0) + 1;
    const delay = Math.min(this.o.baseMs * 2 ** (failures - 1), this.o.maxMs);
    this.backoffs.set(key, { failures, retryAt: now + delay, message });
    return delay;
  }

  /** A pull of `ref` worked: its registry is reachable and the image fine. */
  succeeded(ref: string): void {
    this.backoffs.delete(registryKey(ref));
    this.backoffs.delete(imageKey(ref));
    this.lastFailure.delete(ref);
    this.warned.delete(ref);
  }

  /** True the first time the local `ref` stands in for a failed pull, until a pull of it succeeds. */
  firstFallback(ref: string): boolean {
    if (this.warned.has(ref)) return false;
    this.warned.add(ref);
    return true;
  }
}

export interface PullFailureSettings { baseMs: number; maxMs: number; burstMs: number }
// 1 min: a registry back after a blip is used again soon. 30 min: an offline lab asks twice an
// hour, and a board that comes online pulls within half an hour (any successful pull sooner).
// 30 s: a burst of replicas of an absent image makes one attempt, as before this backoff.
export const defaultPullFailureSettings: PullFailureSettings = { baseMs: 60_000, maxMs: 30 * 60_000, burstMs: 30_000 };

/** The registry `ref` is pulled from (`docker.io` for `nginx`). */
export function registryOf(ref: string): string {
  return parseImageReference(ref)?.domain ?? defaultImageDomain;
}
const registryKey = (ref: string) => `registry ${registryOf(ref)}`;
const imageKey = (ref: string) => `image ${ref}`;

/** The engine's words for a registry it could not reach, as opposed to one that answered no. */
const unreachable = /dial tcp|no such host|lookup .* on|i\/o timeout|deadline exceeded|Client\.Timeout|TLS handshake timeout|connection refused|network is unreachable|no route to host|temporary failure in name resolution|EAI_AGAIN|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/i;
export const isUnreachable = (message: string): boolean => unreachable.test(message);

/** How long a pod whose image is already on the board waits for the registry (see pullImage). */
export const localImagePullWaitMs = 2_000;

export async function pullImage(runtime: ContainerRuntime, container: Pick<Container, 'image' | 'imagePullPolicy'>,
  node: Platform, failures: PullFailures = new PullFailures(), images: ImageCache = new ImageCache(runtime)): Promise<PullResult> {
  const ref = container.image;
  const policy = pullPolicyOf(container);
  let local = await images.inspect(ref);
  let pulled = false;
  let warning: string | undefined;
  if (policy === 'Never' && !local) {
    return { ok: false, reason: 'ErrImageNeverPull', message: `Container image "${ref}" is not present with pull policy of Never` };
  }
  if (policy === 'Always' || !local) {
    // With the image here, a registry known to be unreachable is not asked (the local image runs);
    // without it, the pull is the only way, and is tried (once per burst of replicas).
    const skip = local ? failures.blocked(ref)?.message : failures.recent(ref) ? failures.blocked(ref)?.message ?? 'failed moments ago' : undefined;
    let error = skip;
    if (skip === undefined) {
      const pull = runtime.pullImage(ref).then(
        () => { failures.succeeded(ref); images.clear(ref); return undefined; },
        (err: unknown) => { const message = (err as Error).message; failures.failed(ref, message); return message; });
      // With the image here, a registry that does not answer must not hold the pod: an offline
      // board's resolver takes 20 s or more to give up (a simulated board's 25 s), most of a
      // failover's budget. Past the wait the local image runs and the pull goes on; its outcome
      // (success, or the registry's backoff) is recorded when it comes.
      let timer: NodeJS.Timeout | undefined;
      const slow = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`the registry did not answer within ${localImagePullWaitMs / 1000} s`), localImagePullWaitMs);
      });
      error = await (local ? Promise.race([pull, slow]) : pull);
      clearTimeout(timer);
      if (error === undefined) {
        pulled = true;
        local = await images.inspect(ref);
      } else if (!failures.blocked(ref)) {
        // Still pulling: the starts right behind this one run the local image without waiting too.
        failures.failed(ref, error);
      }
    }
    if (error !== undefined) {
      if (!local) return { ok: false, reason: 'ErrImagePull', message: `failed to pull image "${ref}": ${error}` };
      if (failures.firstFallback(ref)) {
        const retry = failures.blocked(ref);
        warning = `Failed to pull image "${ref}" (${error}); using the image already present on the node` +
          (retry ? `; registry ${registryOf(ref)} is not tried again for ${Math.round(retry.retryInMs / 60_000)} min (said once per image)` : '');
      }
    }
  }
  if (!local) return { ok: false, reason: 'ErrImagePull', message: `image "${ref}" is not present after pulling it` };
  const fits = imageFitsNode(local, node);
  if (!fits.ok) return { ok: false, reason: 'ImagePlatformMismatch', message: fits.message };
  return { ok: true, image: local, pulled, ...(warning && { warning }) };
}
