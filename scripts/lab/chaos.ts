// A chaos soak on a simulated lab (scripts/lab.sh): random packet loss on every board's link and
// one board whose cable flaps, while a Deployment runs. The benchmark (scripts/bench/chaos.ts)
// and the short end-to-end test (test/e2e/chaos.test.ts) share it.
//
// Loss: this machine's kernel has no netem, so each board drops packets itself with iptables'
// `statistic --mode random` match, in the mangle table (the agent's own chains are in filter and
// nat, and it moves its FORWARD jump to the top; mangle is left alone): every packet in and out of
// the board's lab interface (eth0, or eth1 after a replugged cable; `eth+` matches both) is dropped
// with probability p, both ways, the control plane's traffic and the other boards' alike.
//
// What is counted, from watches on Nodes and Pods (never a poll that could miss a blip):
//  - false NotReady: a Node's Ready leaving True on a board whose cable was never pulled;
//  - false evictions: pods deleted on such a board (nothing else deletes pods in a soak);
//  - convergence: from the flapping's end until exactly the desired replicas run, each Ready
//    on a Ready node, each with one running container, and no other pod container on any board;
//  - stale or duplicate containers: `docker ps` inside each board against the API's pods, once
//    converged (or at the convergence deadline).
import type { Node, Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { Informer } from '../../control-plane/client/informer.ts';
import { newDeployment } from '../../control-plane/cli/commands/create.ts';
import { isReady, Lab, resources, sleep, until } from './lab.ts';

export interface ChaosOptions {
  boards: string[];
  /** The board whose cable flaps; every other board is never unplugged. */
  flapper: string;
  replicas: number;
  /** Drop probabilities, one phase each (0.1 = 10%). */
  losses: number[];
  /** How long the cable flaps in each phase. */
  flapMs: number;
  /** The cable toggles (out, in, out, ...) this often. */
  flapEveryMs: number;
  /** A phase's loss stays on at least this long, flapping and convergence included. */
  soakMs: number;
  /** Convergence is waited for this long after the flapping ends. */
  convergeTimeoutMs: number;
  /** How long the Deployment may take to be Ready before the phases start (default 180 s). */
  deployTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface PhaseResult {
  loss: number;
  falseNotReady: number;
  falseEvictions: number;
  /** NotReady and evictions on the flapping board: expected, reported apart. */
  flapperNotReady: number;
  flapperEvictions: number;
  /** Seconds from the flapping's end to convergence; undefined: not within the timeout. */
  convergeS?: number;
  staleContainers: number;
  duplicateContainers: number;
  /** Human-readable notes: which node went NotReady when, what was stale. */
  notes: string[];
}

export interface BoardContainer { id: string; uid: string; pod: string; container: string; running: boolean }

const chainIn = 'LABKUBE-CHAOS-IN';
const chainOut = 'LABKUBE-CHAOS-OUT';

/** Sets the drop probability on a board's lab interface (0 removes the drop rules). */
export async function setLoss(lab: Lab, board: string, probability: number): Promise<void> {
  const p = probability.toFixed(4);
  const rules = probability > 0
    ? `iptables -t mangle -A ${chainIn} -i eth+ -m statistic --mode random --probability ${p} -j DROP
       iptables -t mangle -A ${chainOut} -o eth+ -m statistic --mode random --probability ${p} -j DROP`
    : '';
  await lab.exec(board, ['sh', '-ec', `
    for c in ${chainIn} ${chainOut}; do iptables -t mangle -N $c 2>/dev/null || iptables -t mangle -F $c; done
    iptables -t mangle -C PREROUTING -j ${chainIn} 2>/dev/null || iptables -t mangle -I PREROUTING -j ${chainIn}
    iptables -t mangle -C POSTROUTING -j ${chainOut} 2>/dev/null || iptables -t mangle -I POSTROUTING -j ${chainOut}
    ${rules}`], 30_000);
}

/** Every labkube container on a board's engine, sandboxes included. */
export async function boardContainers(lab: Lab, board: string): Promise<BoardContainer[]> {
  const fmt = '{{.ID}}|{{.Label "io.labkube.pod.uid"}}|{{.Label "io.labkube.pod.name"}}|{{.Label "io.labkube.container.name"}}|{{.State}}';
  const out = await lab.exec(board, ['docker', 'ps', '-a', '--filter', 'label=io.labkube.pod.uid', '--format', fmt], 30_000);
  return out.split('\n').filter(Boolean).map((l) => {
    const [id, uid, pod, container, state] = l.split('|');
    return { id: id!, uid: uid!, pod: pod!, container: container!, running: state === 'running' };
  });
}

/**
 * Running containers that should not run: of a pod the API does not have on this board (stale),
 * or a second one of the same pod and container (duplicate).
 */
export function auditContainers(board: string, containers: BoardContainer[], pods: Pod[]): { stale: string[]; duplicate: string[] } {
  const here = new Set(pods.filter((p) => p.spec?.nodeName === board).map((p) => p.metadata.uid));
  const stale: string[] = [];
  const duplicate: string[] = [];
  const seen = new Set<string>();
  for (const c of containers.filter((c) => c.running)) {
    if (!here.has(c.uid)) { stale.push(`${board}/${c.pod}/${c.container}`); continue; }
    const key = `${c.uid}/${c.container}`;
    if (seen.has(key)) duplicate.push(`${board}/${c.pod}/${c.container}`);
    seen.add(key);
  }
  return { stale, duplicate };
}

const isPodReady = (p: Pod) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp &&
  p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

/** Watches Nodes and Pods and counts NotReady transitions and pod deletions per node. */
class Observer {
  readonly nodes: Informer<Node & KubeObject>;
  readonly pods: Informer<Pod & KubeObject>;
  notReady: { node: string; at: number }[] = [];
  deleted: { node: string; pod: string; at: number }[] = [];
  private readonly deletedUids = new Set<string>();

  constructor(lab: Lab, selector: string) {
    this.nodes = new Informer({ client: lab.client, resource: resources.nodes });
    this.pods = new Informer({ client: lab.client, resource: resources.pods, namespace: 'default', labelSelector: selector });
    this.nodes.on({
      update: (old, n) => { if (isReady(old) && !isReady(n)) this.notReady.push({ node: n.metadata.name!, at: Date.now() }); },
    });
    const gone = (p: Pod & KubeObject) => {
      if (!p.spec?.nodeName || this.deletedUids.has(p.metadata.uid!)) return;
      this.deletedUids.add(p.metadata.uid!);
      this.deleted.push({ node: p.spec.nodeName, pod: p.metadata.name!, at: Date.now() });
    };
    this.pods.on({ update: (_o, p) => { if (p.metadata.deletionTimestamp) gone(p); }, delete: gone });
  }

  async start(): Promise<void> {
    this.nodes.start();
    this.pods.start();
    await Promise.all([this.nodes.waitForSync(), this.pods.waitForSync()]);
  }

  async stop(): Promise<void> { await Promise.all([this.nodes.stop(), this.pods.stop()]); }
}

/** Creates the Deployment and waits until every replica is Ready, spread over the boards. */
export async function deploy(lab: Lab, replicas: number, timeoutMs = 180_000): Promise<void> {
  await lab.client.create(resources.deployments, 'default', newDeployment('chaos', 'nginx', replicas, 80));
  await until(`${replicas} chaos replicas Ready`, timeoutMs, async () =>
    (await lab.pods('app=chaos')).filter(isPodReady).length === replicas, 500);
}

/** Exactly the desired replicas Ready on Ready nodes, and on the boards exactly their containers. */
async function converged(lab: Lab, o: ChaosOptions): Promise<{ ok: boolean; stale: string[]; duplicate: string[]; why: string }> {
  const [nodes, pods] = await Promise.all([lab.nodes(), lab.pods('app=chaos')]);
  const live = pods.filter((p) => !p.metadata.deletionTimestamp);
  const ready = new Set(nodes.filter(isReady).map((n) => n.metadata.name));
  const audits = await Promise.all(o.boards.map(async (b) => {
    const containers = await boardContainers(lab, b);
    const audit = auditContainers(b, containers, live);
    const running = containers.filter((c) => c.running && c.container !== 'POD' && live.some((p) => p.metadata.uid === c.uid)).length;
    return { ...audit, running };
  }));
  const stale = audits.flatMap((a) => a.stale);
  const duplicate = audits.flatMap((a) => a.duplicate);
  const appContainers = audits.reduce((n, a) => n + a.running, 0);
  const why = [
    live.length !== o.replicas && `${live.length} pods`,
    live.filter(isPodReady).length !== o.replicas && `${live.filter(isPodReady).length} Ready`,
    live.some((p) => !ready.has(p.spec?.nodeName)) && 'a pod on a node not Ready',
    appContainers !== o.replicas && `${appContainers} app containers`,
    stale.length && `stale ${stale.join(',')}`,
    duplicate.length && `duplicate ${duplicate.join(',')}`,
  ].filter(Boolean).join('; ');
  return { ok: why === '', stale, duplicate, why };
}

/** Toggles `board`'s cable every `everyMs` until `untilMs` (epoch), and leaves it plugged in. */
async function flap(lab: Lab, board: string, everyMs: number, untilMs: number, log?: (l: string) => void): Promise<number> {
  let out = false;
  let toggles = 0;
  const t0 = Date.now();
  for (let k = 1; Date.now() < untilMs; k++) {
    if (out) await lab.replug(board); else await lab.unplug(board, true);
    out = !out;
    toggles++;
    // Toggles on a fixed schedule, whatever each lab.sh call cost on a loaded machine.
    const next = t0 + k * everyMs;
    if (next > Date.now()) await sleep(Math.min(next, untilMs) - Date.now());
  }
  if (out) await lab.replug(board);
  log?.(`${board}: cable toggled ${toggles} times, now plugged in`);
  return toggles;
}

/** One phase: loss `p` on every board, the cable flapping, then convergence; counts what went wrong. */
export async function chaosPhase(lab: Lab, o: ChaosOptions, loss: number): Promise<PhaseResult> {
  const log = o.log ?? (() => undefined);
  const observer = new Observer(lab, 'app=chaos');
  await observer.start();
  const t0 = Date.now();
  try {
    await Promise.all(o.boards.map((b) => setLoss(lab, b, loss)));
    log(`loss ${(loss * 100).toFixed(0)}% on ${o.boards.join(', ')}; ${o.flapper}'s cable flaps every ${o.flapEveryMs / 1000} s for ${o.flapMs / 1000} s`);
    await flap(lab, o.flapper, o.flapEveryMs, Date.now() + o.flapMs, log);
    const flapEnd = Date.now();
    let convergeS: number | undefined;
    let last = { ok: false, stale: [] as string[], duplicate: [] as string[], why: '' };
    const deadline = flapEnd + o.convergeTimeoutMs;
    while (Date.now() < deadline) {
      last = await converged(lab, o).catch((err: Error) => ({ ok: false, stale: [], duplicate: [], why: err.message }));
      if (last.ok) { convergeS = (Date.now() - flapEnd) / 1000; break; }
      await sleep(500);
    }
    log(convergeS === undefined ? `not converged ${o.convergeTimeoutMs / 1000} s after the flapping: ${last.why}` : `converged ${convergeS.toFixed(1)} s after the flapping ended`);
    // The rest of the soak, loss still on: a false NotReady may come late.
    const soakEnd = t0 + o.soakMs;
    if (soakEnd > Date.now()) await sleep(soakEnd - Date.now());
    const end = await converged(lab, o).catch(() => last);
    const touched = (n: string) => n === o.flapper;
    const at = (ms: number) => `${((ms - t0) / 1000).toFixed(1)} s`;
    const notes = [
      ...observer.notReady.map((e) => `${e.node} NotReady at ${at(e.at)}${touched(e.node) ? ' (flapping)' : ''}`),
      ...observer.deleted.map((e) => `${e.pod} on ${e.node} deleted at ${at(e.at)}${touched(e.node) ? ' (flapping)' : ''}`),
      ...(end.ok ? [] : [`at the soak's end: ${end.why}`]),
    ];
    return {
      loss,
      falseNotReady: observer.notReady.filter((e) => !touched(e.node)).length,
      falseEvictions: observer.deleted.filter((e) => !touched(e.node)).length,
      flapperNotReady: observer.notReady.filter((e) => touched(e.node)).length,
      flapperEvictions: observer.deleted.filter((e) => touched(e.node)).length,
      ...(convergeS !== undefined && { convergeS }),
      staleContainers: (convergeS !== undefined ? last : end).stale.length,
      duplicateContainers: (convergeS !== undefined ? last : end).duplicate.length,
      notes,
    };
  } finally {
    await observer.stop();
    await Promise.all(o.boards.map((b) => setLoss(lab, b, 0).catch(() => undefined)));
  }
}

/** Every phase in turn on a lab whose boards are up and Ready; the Deployment is created first. */
export async function runChaos(lab: Lab, o: ChaosOptions): Promise<PhaseResult[]> {
  await until('every node Ready', 120_000, async () => (await lab.nodes()).filter(isReady).length === o.boards.length, 500);
  // On a loaded machine the replicas may take minutes (or never all be Ready while nodes flap):
  // the phases still count what goes wrong, so a slow start is reported, not fatal.
  await deploy(lab, o.replicas, o.deployTimeoutMs).catch((err: Error) => o.log?.(`${err.message}; soaking anyway`));
  const results: PhaseResult[] = [];
  for (const loss of o.losses) {
    const result = await chaosPhase(lab, o, loss);
    results.push(result);
    o.log?.(formatPhase(result)); // as it comes: a run cut short by its time bound still tells
    // Between phases: back to a clean, converged cluster, so one phase's damage is not the next's.
    await until('convergence between phases', o.convergeTimeoutMs * 2, async () => (await converged(lab, o)).ok, 1_000).catch(() => undefined);
  }
  return results;
}

export function formatPhase(r: PhaseResult): string {
  const pct = `${(r.loss * 100).toFixed(0)}%`;
  return `loss ${pct}: false_notready=${r.falseNotReady} false_evictions=${r.falseEvictions} ` +
    `converge_s=${r.convergeS === undefined ? 'none' : r.convergeS.toFixed(1)} stale_containers=${r.staleContainers + r.duplicateContainers} ` +
    `(flapping board: ${r.flapperNotReady} NotReady, ${r.flapperEvictions} evicted)` +
    (r.notes.length ? `\n    ${r.notes.join('\n    ')}` : '');
}
