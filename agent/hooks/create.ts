// Hook: build the engine's container config from a pod's container and create it. The name and
// labels make every container traceable to its pod; the restart count lives in a label so an
// agent that restarts knows it without the API server.
import type { Container, Pod } from '../../control-plane/api/core.ts';
import { intValue, milliValue } from '../../control-plane/api/quantity.ts';
import { labelKeys, type ContainerConfig, type ContainerRuntime } from '../runtime/types.ts';

export interface CreateContext {
  nodeName: string; nodeIp: string; restartCount: number;
  /** The pod's sandbox: the container joins its network namespace, and its ports are published there. */
  sandboxId?: string;
  /** spec.hostNetwork: the container runs in the node's network namespace. */
  hostNetwork?: boolean;
  /** Bind mounts for every container of the pod (its resolv.conf). */
  binds?: string[];
  /** Variables every container of the pod gets (Services'); the container's own env wins. */
  extraEnv?: string[];
}

/** `extra` then `own`, without the names `own` sets: the engine keeps the first of two equal names. */
function mergeEnv(extra: string[], own: string[]): string[] {
  const ownNames = new Set(own.map((e) => e.split('=')[0]));
  return [...extra.filter((e) => !ownNames.has(e.split('=')[0])), ...own];
}

export function containerName(pod: Pod, container: Container, ctx: CreateContext): string {
  const uid = (pod.metadata.uid ?? '').slice(0, 8);
  return `labkube_${ctx.nodeName}_${pod.metadata.namespace}_${pod.metadata.name}_${container.name}_${uid}_${ctx.restartCount}`;
}

export function containerConfig(pod: Pod, container: Container, ctx: CreateContext): ContainerConfig {
  const limits = container.resources?.limits ?? {};
  // A container in another's namespace (or the host's) has no ports of its own to publish.
  const ports = ctx.sandboxId || ctx.hostNetwork ? [] : (container.ports ?? []).map((p) => ({
    containerPort: p.containerPort,
    protocol: (p.protocol ?? 'TCP').toLowerCase() as 'tcp' | 'udp' | 'sctp',
    ...(p.hostPort ? { hostPort: p.hostPort, hostIp: p.hostIP || ctx.nodeIp } : {}),
  }));
  return {
    name: containerName(pod, container, ctx),
    image: container.image,
    ...(container.command && { entrypoint: container.command }),
    ...(container.args && { cmd: container.args }),
    // A command without args must not inherit the image's cmd, as in Kubernetes.
    ...(container.command && !container.args && { cmd: [] }),
    env: mergeEnv(ctx.extraEnv ?? [], (container.env ?? []).map((e) => `${e.name}=${e.value ?? ''}`)),
    ...(container.workingDir && { workingDir: container.workingDir }),
    ...(container.stdin && { stdin: true, stdinOnce: Boolean(container.stdinOnce) }),
    ...(container.tty && { tty: true }),
    labels: {
      [labelKeys.node]: ctx.nodeName,
      [labelKeys.namespace]: pod.metadata.namespace ?? 'default',
      [labelKeys.pod]: pod.metadata.name!,
      [labelKeys.uid]: pod.metadata.uid!,
      [labelKeys.container]: container.name,
      [labelKeys.restartCount]: String(ctx.restartCount),
      ...(ctx.sandboxId && { [labelKeys.sandbox]: ctx.sandboxId }),
    },
    ports,
    ...(ctx.sandboxId ? { networkMode: `container:${ctx.sandboxId}` } : ctx.hostNetwork ? { networkMode: 'host' } : {}),
    ...(ctx.binds?.length && { binds: ctx.binds }),
    ...(limits.memory !== undefined && { memoryBytes: intValue(limits.memory) }),
    ...(limits.cpu !== undefined && { nanoCpus: milliValue(limits.cpu) * 1_000_000 }),
  };
}

export async function createContainer(runtime: ContainerRuntime, pod: Pod, container: Container, ctx: CreateContext): Promise<string> {
  return runtime.createContainer(containerConfig(pod, container, ctx));
}
