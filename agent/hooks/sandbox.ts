// Hook: a pod's sandbox, the container that holds the pod's network namespace (the role
// Kubernetes' pause container plays). It is created first, on the pod network; every app
// container joins its namespace (`container:<id>`), so the pod's containers share one IP and
// reach each other on localhost. hostPorts are published here: ports belong to the namespace's
// owner. The sandbox's restart-count label counts its attempts, as the kubelet's sandbox attempt.
import type { Pod } from '../../control-plane/api/core.ts';
import { labelKeys, sandboxContainerName, type ContainerConfig, type ContainerInfo, type PortBinding } from '../runtime/types.ts';

export interface SandboxContext { nodeName: string; nodeIp: string; attempt: number; image: string; network: string; binds: string[] }

export const isSandbox = (c: Pick<ContainerInfo, 'labels'>): boolean => c.labels[labelKeys.container] === sandboxContainerName;

/** Every container port of the pod with a hostPort, as one list of bindings on the sandbox. */
export function sandboxPorts(pod: Pod, nodeIp: string): PortBinding[] {
  return pod.spec.containers.flatMap((c) => (c.ports ?? []).filter((p) => p.hostPort).map((p) => ({
    containerPort: p.containerPort,
    protocol: (p.protocol ?? 'TCP').toLowerCase() as PortBinding['protocol'],
    hostPort: p.hostPort!, hostIp: p.hostIP || nodeIp,
  })));
}

export function sandboxConfig(pod: Pod, ctx: SandboxContext): ContainerConfig {
  const uid = (pod.metadata.uid ?? '').slice(0, 8);
  return {
    name: `labkube_${ctx.nodeName}_${pod.metadata.namespace}_${pod.metadata.name}_${sandboxContainerName}_${uid}_${ctx.attempt}`,
    image: ctx.image,
    env: [],
    labels: {
      [labelKeys.node]: ctx.nodeName,
      [labelKeys.namespace]: pod.metadata.namespace ?? 'default',
      [labelKeys.pod]: pod.metadata.name!,
      [labelKeys.uid]: pod.metadata.uid!,
      [labelKeys.container]: sandboxContainerName,
      [labelKeys.restartCount]: String(ctx.attempt),
    },
    ports: sandboxPorts(pod, ctx.nodeIp),
    networkMode: ctx.network,
    binds: ctx.binds,
  };
}
