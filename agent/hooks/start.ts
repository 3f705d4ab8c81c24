// Hook: start a created container. An engine that cannot start it (a missing executable, a port
// already taken) leaves it created with an error; the caller reports that as the container's
// failure and the restart policy decides what follows.
import type { ContainerRuntime } from '../runtime/types.ts';

export type StartResult = { ok: true } | { ok: false; reason: 'StartError'; message: string };

export async function startContainer(runtime: ContainerRuntime, id: string): Promise<StartResult> {
  try {
    await runtime.startContainer(id);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: 'StartError', message: (err as Error).message };
  }
}
