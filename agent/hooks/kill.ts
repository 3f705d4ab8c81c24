// Hook: stop and remove containers: SIGTERM, the grace period, SIGKILL (the engine's stop does
// all three), then remove. Idempotent: containers already stopped or gone are fine.
import type { ContainerInfo, ContainerRuntime } from '../runtime/types.ts';

export async function killContainers(runtime: ContainerRuntime, containers: ContainerInfo[], graceSeconds: number): Promise<void> {
  await Promise.all(containers.map(async (c) => {
    if (c.status === 'running' || c.status === 'restarting' || c.status === 'paused') await runtime.stopContainer(c.id, graceSeconds);
    await runtime.removeContainer(c.id);
  }));
}

/** Stops one container without removing it (a failed liveness probe: it is restarted as a crash). */
export async function stopContainer(runtime: ContainerRuntime, container: ContainerInfo, graceSeconds: number): Promise<void> {
  await runtime.stopContainer(container.id, graceSeconds);
}
