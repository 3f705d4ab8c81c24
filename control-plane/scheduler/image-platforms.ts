// Image names and platforms: which images a node has, and which platforms an image exists for,
// as nodes report them (the `labkube.io/image-platforms` contract in api/well-known.ts).
import type { Node } from '../api/core.ts';
import { annotationImagePlatforms, labelArch, labelOS } from '../api/well-known.ts';

/** `nginx`, `nginx:latest`, `docker.io/library/nginx:latest` all name one image. */
export function normalizeImage(image: string): string {
  let name = image.trim();
  const atDigest = name.indexOf('@');
  const lastSegment = name.slice(name.lastIndexOf('/') + 1);
  if (atDigest < 0 && !lastSegment.includes(':')) name += ':latest';
  if (name.startsWith('docker.io/library/')) return name.slice('docker.io/library/'.length);
  if (name.startsWith('index.docker.io/library/')) return name.slice('index.docker.io/library/'.length);
  if (name.startsWith('docker.io/')) return name.slice('docker.io/'.length);
  return name;
}

/** `linux/arm64/v8` -> `linux/arm64`: the variant does not decide whether a binary runs. */
export function osArch(platform: string): string {
  const [os, arch] = platform.split('/');
  return `${os ?? ''}/${arch ?? ''}`;
}

/** The platform a node runs, from its labels (falling back to nodeInfo). */
export function nodePlatform(node: Node): string {
  const os = node.metadata.labels?.[labelOS] ?? node.status?.nodeInfo?.operatingSystem ?? 'linux';
  const arch = node.metadata.labels?.[labelArch] ?? node.status?.nodeInfo?.architecture ?? '';
  return `${os}/${arch}`;
}

/**
 * The node's annotation, parsed: normalised image -> os/arch set. A malformed annotation is
 * ignored (the node then tells the scheduler nothing), never fatal.
 */
export function nodeImagePlatforms(node: Node): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>();
  const text = node.metadata.annotations?.[annotationImagePlatforms];
  if (!text) return result;
  let parsed: unknown;
  try { parsed = JSON.parse(text); } catch { return result; /* an agent bug must not stop scheduling */ }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return result;
  for (const [image, platforms] of Object.entries(parsed as Record<string, unknown>)) {
    if (!Array.isArray(platforms)) continue;
    const set = new Set(platforms.filter((p): p is string => typeof p === 'string').map(osArch));
    if (set.size > 0) result.set(normalizeImage(image), set);
  }
  return result;
}

/** The union over all nodes of what each knows about image platforms. */
export function mergeImagePlatforms(perNode: Iterable<Map<string, Set<string>>>): Map<string, Set<string>> {
  const merged = new Map<string, Set<string>>();
  for (const map of perNode) {
    for (const [image, platforms] of map) {
      let set = merged.get(image);
      if (!set) { set = new Set(); merged.set(image, set); }
      for (const p of platforms) set.add(p);
    }
  }
  return merged;
}
