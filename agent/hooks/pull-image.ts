// Hook: make the container's image present, honouring imagePullPolicy with Kubernetes' defaults,
// and check that it fits the node's platform. A lab is often offline: when a pull fails and the
// image is already here, the local image runs and the caller records an Event saying so.
import type { Container } from '../../control-plane/api/core.ts';
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
 * Remembers failed pulls for a while, so thirty replicas of an offline `:latest` image make one
 * attempt, not thirty.
 */
export class PullFailures {
  private readonly failures = new Map<string, { at: number; message: string }>();
  // Long enough to cover a burst of pod starts, short enough to notice a registry coming back.
  constructor(private readonly rememberMs = 30_000) {}
  recent(ref: string, now = Date.now()): string | undefined {
    const f = this.failures.get(ref);
    return f && now - f.at < this.rememberMs ? f.message : undefined;
  }
  record(ref: string, message: string, now = Date.now()): void { this.failures.set(ref, { at: now, message }); }
  clear(ref: string): void { this.failures.delete(ref); }
}

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
    const recent = failures.recent(ref);
    let error = recent;
    if (!recent) {
      try {
        await runtime.pullImage(ref);
        failures.clear(ref);
        pulled = true;
        images.clear(ref);
        local = await images.inspect(ref);
      } catch (err) {
        error = (err as Error).message;
        failures.record(ref, error);
      }
    }
    if (error !== undefined) {
      if (!local) return { ok: false, reason: 'ErrImagePull', message: `failed to pull image "${ref}": ${error}` };
      warning = `Failed to pull image "${ref}" (${error}); using the image already present on the node`;
    }
  }
  if (!local) return { ok: false, reason: 'ErrImagePull', message: `image "${ref}" is not present after pulling it` };
  const fits = imageFitsNode(local, node);
  if (!fits.ok) return { ok: false, reason: 'ImagePlatformMismatch', message: fits.message };
  return { ok: true, image: local, pulled, ...(warning && { warning }) };
}
