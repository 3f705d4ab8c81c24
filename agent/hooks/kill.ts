// Hook: stop and remove containers: SIGTERM, the grace period, SIGKILL (the engine's stop does
// all three), then remove. Idempotent: containers already stopped or gone are fine.
// A pod's sandbox goes last: its app containers live in its network namespace until they stop.
import type { ContainerInfo, ContainerRuntime } from '../runtime/types.ts';
import { isSandbox } from './sandbox.ts';

type Killable = Pick<ContainerInfo, 'id' | 'labels'> & Partial<Pick<ContainerInfo, 'status'>>;

/** Stops (when running, or when the status is unknown) and removes containers: app containers first, then sandboxes. */
export async function killContainers(runtime: ContainerRuntime, containers: Killable[], graceSeconds: number): Promise<void> {
  const kill = (list: Killable[]) => Promise.all(list.map(async (c) => {
    if (c.status === undefined || c.status === 'running' || c.status === 'restarting' || c.status === 'paused') await runtime.stopContainer(c.id, graceSeconds);
    await runtime.removeContainer(c.id);
  }));
  await kill(containers.filter((c) => !isSandbox(c)));
  await kill(containers.filter(isSandbox));
}

/** Stops one container without removing it (a failed liveness probe: it is restarted as a crash). */
export async function stopContainer(runtime: ContainerRuntime, container: ContainerInfo, graceSeconds: number): Promise<void> {
  await runtime.stopContainer(container.id, graceSeconds);
}
