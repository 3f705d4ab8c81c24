// Images on a node that may have no registry: loading airgap tarballs at start (as k3s loads
// /var/lib/rancher/k3s/agent/images), checking an image's platform against the node's, and the
// list of images the Node reports.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ContainerRuntime, ImageInfo } from './runtime/types.ts';

export interface Platform { os: string; architecture: string; variant?: string }

/** Node's process.arch to Kubernetes' (GOARCH) names. */
export function kubernetesArch(nodeArch: string = process.arch): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[nodeArch] ?? nodeArch;
}

export const platformString = (p: Platform): string => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;

/**
 * Whether an image built for `image` runs on `node`. Variants matter only on arm: an armv7 board
 * runs v6 and v7 images, not v8; arm64 images never run on a 32-bit board.
 */
export function platformMatches(image: Platform, node: Platform): boolean {
  if (image.os !== node.os || image.architecture !== node.architecture) return false;
  if (node.architecture !== 'arm' || !image.variant || !node.variant) return true;
  return Number(image.variant.replace('v', '')) <= Number(node.variant.replace('v', ''));
}

export function imageFitsNode(image: ImageInfo, node: Platform): { ok: true } | { ok: false; message: string } {
  const p: Platform = { os: image.os, architecture: image.architecture, ...(image.variant && { variant: image.variant }) };
  if (platformMatches(p, node)) return { ok: true };
  return { ok: false, message: `image ${image.tags[0] ?? image.id} is built for ${platformString(p)} but this node is ${platformString(node)}` };
}

/** `docker load`s every *.tar in `dir` not loaded before (by name, size and mtime). Returns what it loaded. */
export async function loadAirgapImages(runtime: ContainerRuntime, dir: string, logger?: Logger): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const stampPath = join(dir, '.loaded.json');
  const stamps = existsSync(stampPath) ? JSON.parse(readFileSync(stampPath, 'utf8')) as Record<string, string> : {};
  const loaded: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.tar')).sort()) {
    const st = statSync(join(dir, file));
    const stamp = `${st.size}:${st.mtimeMs}`;
    if (stamps[file] === stamp) continue;
    logger?.info({ file }, 'loading airgap image tarball');
    await runtime.loadImage(join(dir, file));
    stamps[file] = stamp;
    loaded.push(file);
    writeFileSync(stampPath, JSON.stringify(stamps, null, 2));
  }
  return loaded;
}

/** Images for Node.status.images and the image-platforms annotation, largest first as the kubelet sorts them. */
export function nodeImages(images: ImageInfo[]): { images: { names: string[]; sizeBytes: number }[]; platforms: Record<string, string[]> } {
  const sorted = [...images].sort((a, b) => b.sizeBytes - a.sizeBytes);
  const platforms: Record<string, string[]> = {};
  for (const i of sorted) {
    const p = platformString({ os: i.os, architecture: i.architecture, ...(i.variant && { variant: i.variant }) });
    for (const tag of i.tags.filter((t) => t !== '<none>:<none>')) platforms[tag] = [p];
  }
  return {
    images: sorted.map((i) => ({ names: [...i.tags.filter((t) => t !== '<none>:<none>'), i.id], sizeBytes: i.sizeBytes })),
    platforms,
  };
}
