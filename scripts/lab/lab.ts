// Drives a simulated lab (scripts/lab.sh) from TypeScript: the end-to-end test
// (test/e2e/lab.test.ts) and the failover benchmark (scripts/bench/failover.ts) share it.
// Every wait here is bounded by a deadline; every poll sleeps between tries.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Node, Pod } from '../../control-plane/api/core.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { KubeClient } from '../../control-plane/client/client.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
export const resources = {
  nodes: resourceFor('', 'nodes')!,
  pods: resourceFor('', 'pods')!,
  deployments: resourceFor('apps', 'deployments')!,
  replicasets: resourceFor('apps', 'replicasets')!,
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `intervalMs` until it returns something other than undefined/false. */
export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) { last = err; }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export interface LabOptions {
  name: string;
  dir: string;
  /** A /24 such as 172.29.78.0/24: boards are .11, .12, ...; the host is .1. */
  subnet: string;
  port: number;
  serverArgs?: string[];
  /** Extra agent flags (ansible's labkube_agent_extra_args); no word may contain a space. */
  agentArgs?: string[];
  /**
   * `up` bundles dist/ first, under the lock that lets one lab come up at a time, so a lab coming
   * up beside it never copies a half-written bundle to its boards.
   */
  bundle?: boolean;
  /** Receives lab.sh's stderr lines (progress). */
  log?: (line: string) => void;
}

export interface PodContainer { id: string; pod: string; uid: string; container: string; running: boolean; startedAt: string; restartCount: string }

export interface RecapLine { host: string; ok: number; changed: number; failed: number; unreachable: number }

export class Lab {
  client!: KubeClient;
  readonly gateway: string;

  constructor(readonly options: LabOptions) {
    this.gateway = options.subnet.replace(/\.0\/24$/, '.1');
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env, LABKUBE_LAB_NAME: this.options.name, LABKUBE_LAB_DIR: this.options.dir,
      LABKUBE_LAB_SUBNET: this.options.subnet, LABKUBE_LAB_PORT: String(this.options.port),
      LABKUBE_LAB_SERVER_ARGS: (this.options.serverArgs ?? []).join(' '),
      LABKUBE_LAB_AGENT_ARGS: (this.options.agentArgs ?? []).join(' '), LABKUBE_LAB_BUNDLE: this.options.bundle ? '1' : '0',
    };
  }

  /** Runs `scripts/lab.sh ARGS`; returns stdout. */
  async sh(args: string[], timeoutMs = 120_000): Promise<string> {
    try {
      const { stdout, stderr } = await run('bash', [join(root, 'scripts/lab.sh'), ...args],
        { env: this.env(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
      for (const line of stderr.split('\n').filter(Boolean)) this.options.log?.(line);
      return stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`lab.sh ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    }
  }

  async up(boards: number): Promise<RecapLine[]> {
    // Bounded by the caller's own timeout too; long enough to wait for another lab to come up first (lab.sh's lock).
    const out = await this.sh(['up', String(boards)], 1_500_000);
    this.connect();
    return parseRecap(out);
  }

  connect(): void {
    this.client?.close();
    const data = join(this.options.dir, 'server');
    this.client = new KubeClient({
      server: `https://127.0.0.1:${this.options.port}`,
      token: readFileSync(join(data, 'admin-token'), 'utf8').trim(), ca: readFileSync(join(data, 'ca.crt'), 'utf8'),
    });
  }

  async down(): Promise<void> {
    this.client?.close();
    await this.sh(['down'], 180_000);
  }

  async provision(): Promise<RecapLine[]> { return parseRecap(await this.sh(['provision'], 900_000)); }
  ansibleLog(): string { return readFileSync(join(this.options.dir, 'ansible.log'), 'utf8'); }
  unplug(board: string, cable = false): Promise<string> { return this.sh(['unplug', board, ...(cable ? ['--cable'] : [])]); }
  replug(board: string): Promise<string> { return this.sh(['replug', board]); }
  async serverKill(signal = 'KILL'): Promise<void> { this.client?.close(); await this.sh(['server-kill', signal]); }
  async serverStart(): Promise<void> { await this.sh(['server-start']); this.connect(); }

  boardContainer(board: string): string { return `${this.options.name}-${board}`; }
  boardIp(board: string): string { return this.gateway.replace(/\.1$/, `.${10 + Number(board.replace('board', ''))}`); }

  /** Runs a command inside a board (its own network namespace and Docker engine). */
  async exec(board: string, args: string[], timeoutMs = 15_000): Promise<string> {
    const { stdout } = await run('docker', ['exec', this.boardContainer(board), ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  /**
   * The pod containers on a board's own engine: id, pod name, pod uid, container name, running,
   * start time. Pod sandboxes (container name POD, the pause containers holding pods' network
   * namespaces) are left out: they are not the pod's containers.
   */
  async podContainers(board: string): Promise<PodContainer[]> {
    const ids = (await this.exec(board, ['docker', 'ps', '-aq', '--no-trunc', '--filter', 'label=io.labkube.pod.uid'])).split('\n').filter(Boolean);
    if (ids.length === 0) return [];
    const fmt = '{{.Id}}|{{index .Config.Labels "io.labkube.pod.name"}}|{{index .Config.Labels "io.labkube.pod.uid"}}|{{.State.Running}}|{{.State.StartedAt}}|{{.RestartCount}}|{{index .Config.Labels "io.labkube.container.name"}}';
    // A container removed between `ps` and `inspect` makes inspect fail: list again.
    const out = await this.exec(board, ['docker', 'inspect', '-f', fmt, ...ids]).catch(async () => {
      const again = (await this.exec(board, ['docker', 'ps', '-aq', '--no-trunc', '--filter', 'label=io.labkube.pod.uid'])).split('\n').filter(Boolean);
      return again.length ? this.exec(board, ['docker', 'inspect', '-f', fmt, ...again]) : '';
    });
    return out.split('\n').filter(Boolean).map((l) => {
      const [id, pod, uid, running, startedAt, restartCount, container] = l.split('|');
      return { id: id!, pod: pod!, uid: uid!, container: container ?? '', running: running === 'true', startedAt: startedAt!, restartCount: restartCount! };
    }).filter((c) => c.container !== 'POD');
  }

  /** GET http://IP/ from inside a board; returns the body. */
  async httpFrom(board: string, ip: string): Promise<string> {
    return this.exec(board, ['python3', '-c',
      `import urllib.request; print(urllib.request.urlopen('http://${ip}/', timeout=2).read().decode())`], 5_000);
  }

  async nodes(): Promise<Node[]> { return (await this.client.list(resources.nodes)).items as unknown as Node[]; }
  async pods(selector: string): Promise<Pod[]> {
    return (await this.client.list(resources.pods, 'default', { labelSelector: selector })).items as unknown as Pod[];
  }
}

export const isReady = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
export const isRunning = (p: Pod) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp;

/** `TASK name: host` for every task that reported a change in the last ansible-playbook run. */
export function changedTasks(ansibleLog: string): string[] {
  const changed: string[] = [];
  let task = '';
  for (const line of ansibleLog.split('\n')) {
    const t = /^TASK \[(.*)\]/.exec(line) ?? /^RUNNING HANDLER \[(.*)\]/.exec(line);
    if (t) task = t[1]!;
    const c = /^changed: \[([^\]]+)\]/.exec(line);
    if (c) changed.push(`${task}: ${c[1]}`);
  }
  return changed;
}

export function parseRecap(out: string): RecapLine[] {
  const lines: RecapLine[] = [];
  for (const m of out.matchAll(/^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)) {
    lines.push({ host: m[1]!, ok: Number(m[2]), changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]) });
  }
  return lines;
}

/** Every replica of `selector` that is Running answers with nginx's welcome page, from inside its board. */
export async function replicasServing(lab: Lab, selector: string, replicas: number, avoid?: string): Promise<Pod[] | false> {
  const running = (await lab.pods(selector)).filter((p) => isRunning(p) && p.status?.podIP && p.spec?.nodeName !== avoid);
  if (running.length < replicas) return false;
  const answers = await Promise.all(running.map((p) => lab.httpFrom(p.spec!.nodeName!, p.status!.podIP!).catch(() => '')));
  return answers.every((a) => a.includes('Welcome to nginx')) ? running : false;
}

export interface Timeline {
  mode: 'power' | 'cable';
  board: string;
  pod: string;
  /** Seconds after the plug was pulled. */
  nodeNotReady: number;
  podEvicted: number;
  replacementScheduled: number;
  replacementRunning: number;
  allServing: number;
  replacement: string;
  replacementNode: string;
}

/**
 * Pulls `board`'s plug (power or cable) while `replicas` replicas of `selector` run, and times
 * each phase until as many replicas answer HTTP again, none on `board`.
 */
export async function pullPlug(lab: Lab, opts: { board: string; selector: string; replicas: number; mode: 'power' | 'cable'; timeoutMs?: number }): Promise<Timeline> {
  const before = await lab.pods(opts.selector);
  const victim = before.find((p) => p.spec?.nodeName === opts.board && isRunning(p));
  if (!victim) throw new Error(`no running replica on ${opts.board}`);
  const known = new Set(before.map((p) => p.metadata.uid));
  const t0 = Date.now();
  await lab.unplug(opts.board, opts.mode === 'cable');
  const seconds = () => (Date.now() - t0) / 1000;
  const marks: Partial<Timeline> = {};
  await until('the replicas to be replaced and serving', opts.timeoutMs ?? 60_000, async () => {
    const [nodes, pods] = await Promise.all([lab.nodes(), lab.pods(opts.selector)]);
    const node = nodes.find((n) => n.metadata.name === opts.board);
    if (marks.nodeNotReady === undefined && node && !isReady(node)) marks.nodeNotReady = seconds();
    const old = pods.find((p) => p.metadata.uid === victim.metadata.uid);
    if (marks.podEvicted === undefined && (!old || old.metadata.deletionTimestamp)) marks.podEvicted = seconds();
    const fresh = pods.filter((p) => !known.has(p.metadata.uid));
    const scheduled = fresh.find((p) => p.spec?.nodeName);
    if (marks.replacementScheduled === undefined && scheduled) {
      marks.replacementScheduled = seconds();
      marks.replacement = scheduled.metadata.name!;
      marks.replacementNode = scheduled.spec!.nodeName!;
    }
    if (marks.replacementRunning === undefined && fresh.some(isRunning)) marks.replacementRunning = seconds();
    if (marks.replacementRunning === undefined) return false;
    if (!(await replicasServing(lab, opts.selector, opts.replicas, opts.board))) return false;
    marks.allServing = seconds();
    return true;
  }, 100);
  return { mode: opts.mode, board: opts.board, pod: victim.metadata.name!, ...marks } as Timeline;
}

export function formatTimeline(t: Timeline): string {
  const f = (s: number | undefined) => (s === undefined ? '   -  ' : `${s.toFixed(1).padStart(5)}s`);
  return [
    `${t.mode === 'power' ? 'power plug' : 'network cable'} of ${t.board} pulled (pod ${t.pod})`,
    `  ${f(0)}  plug pulled`,
    `  ${f(t.nodeNotReady)}  node ${t.board} NotReady`,
    `  ${f(t.podEvicted)}  pod ${t.pod} evicted`,
    `  ${f(t.replacementScheduled)}  replacement ${t.replacement} scheduled on ${t.replacementNode}`,
    `  ${f(t.replacementRunning)}  replacement Running`,
    `  ${f(t.allServing)}  all replicas answer HTTP`,
  ].join('\n');
}
