// Docker Swarm on a simulated lab's boards, the baseline the benchmarks compare labkube with: the
// boards' own engines `swarm init` / `join`, with board1 the single manager.
import type { Lab } from './lab.ts';

export const swarmManager = 'board1';

export interface SwarmTask { id: string; node: string; desired: string; state: string }

/** board1 inits, the others join; a board already in the swarm is left alone. */
export async function swarmUp(lab: Lab, boards: string[]): Promise<void> {
  const state = async (b: string) => (await lab.exec(b, ['docker', 'info', '--format', '{{.Swarm.LocalNodeState}}'])).trim();
  if (await state(swarmManager) !== 'active') {
    await lab.exec(swarmManager, ['docker', 'swarm', 'init', '--advertise-addr', lab.boardIp(swarmManager)], 60_000);
  }
  const token = (await lab.exec(swarmManager, ['docker', 'swarm', 'join-token', '-q', 'worker'])).trim();
  for (const b of boards.filter((x) => x !== swarmManager)) {
    if (await state(b) === 'active') continue;
    await lab.exec(b, ['docker', 'swarm', 'join', '--token', token, `${lab.boardIp(swarmManager)}:2377`], 60_000);
  }
}

export async function swarmTasks(lab: Lab, service: string): Promise<SwarmTask[]> {
  const out = await lab.exec(swarmManager, ['docker', 'service', 'ps', service, '--no-trunc', '--format', '{{.ID}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}']);
  return out.split('\n').filter(Boolean).map((l) => {
    const [id, node, desired, state] = l.split('|');
    return { id: id!, node: node!, desired: desired!, state: state! };
  });
}

export const runningTasks = (tasks: SwarmTask[]) => tasks.filter((t) => t.desired === 'Running' && t.state.startsWith('Running'));

/** `board -> Ready | Down | Unknown` as the manager sees its nodes. */
export async function swarmNodes(lab: Lab): Promise<Map<string, string>> {
  const out = await lab.exec(swarmManager, ['docker', 'node', 'ls', '--format', '{{.Hostname}} {{.Status}}']);
  return new Map(out.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
}

/**
 * Every running task of `service` answers HTTP, `replicas` of them, none on `avoid`. Each task is
 * asked from inside its own network namespace (nsenter, the board's python3), which works on
 * any network, an overlay's addresses included (the board itself has no route to those).
 */
export async function swarmServing(lab: Lab, service: string, replicas: number, avoid?: string): Promise<boolean> {
  const running = runningTasks(await swarmTasks(lab, service)).filter((t) => t.node !== avoid);
  if (running.length < replicas) return false;
  for (const node of new Set(running.map((t) => t.node))) {
    const out = await lab.exec(node, ['sh', '-c',
      `for id in $(docker ps -q --filter label=com.docker.swarm.service.name=${service}); do ` +
      `nsenter -t "$(docker inspect -f '{{.State.Pid}}' "$id")" -n python3 -c ` +
      `"import urllib.request; assert b'Welcome to nginx' in urllib.request.urlopen('http://127.0.0.1/', timeout=2).read()" ` +
      '>/dev/null 2>&1 && echo serving; done'], 30_000).catch(() => '');
    const wanted = running.filter((t) => t.node === node).length;
    if ((out.match(/^serving$/gm)?.length ?? 0) < wanted) return false;
  }
  return true;
}

/**
 * Whether the board's kernel has IPVS, which Swarm's routing mesh (the ingress network that
 * answers a published port on every node) and its service VIPs are built on. Without it dockerd
 * logs "Could not get ipvs family information from the kernel" and a published port refuses
 * connections.
 */
export async function hasIpvs(lab: Lab, board: string): Promise<boolean> {
  return (await lab.exec(board, ['sh', '-c', 'test -d /proc/sys/net/ipv4/vs && echo yes || echo no'])).trim() === 'yes';
}
