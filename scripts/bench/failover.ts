// Failover benchmark on simulated boards (scripts/lab.sh): pulls the power plug of a board that
// runs an nginx replica, N times, and times each phase until three replicas answer HTTP again.
// Then the same boards run Docker Swarm (the engine's own `swarm init` / `join` /
// `service create --replicas 3`) through the same power loss, side by side.
//
//   npx tsx scripts/bench/failover.ts [--rounds 5] [--node-grace-period 6]
//       [--default-toleration-seconds 2] [--lease-interval 2] [--skip-swarm]
//
// The detection flags are labkube server's: a shorter grace period notices a dead board sooner;
// a longer one (e.g. 20 s with 10 s toleration) rides out flaky Wi-Fi. Agents renew every 2 s.
// The last line is machine-readable:
//   labkube_median_s=X swarm_median_s=Y ratio=X/Y
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { newDeployment } from '../../control-plane/cli/commands/create.ts';
import { freePort } from '../../test/support/process.ts';
import { isReady, isRunning, Lab, pullPlug, replicasServing, resources, until, type Timeline } from '../lab/lab.ts';
import { swarmManager as manager, swarmNodes, swarmServing as serving, swarmTasks as tasksOf, swarmUp } from '../lab/swarm.ts';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'node-grace-period': { type: 'string', default: '6' },
    'default-toleration-seconds': { type: 'string', default: '2' },
    'skip-swarm': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const rounds = Number(flags.rounds);
const boards = ['board1', 'board2', 'board3'];
const selector = 'app=web';
const log = (s: string) => process.stderr.write(`failover: ${s}\n`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(1));

interface SwarmTimeline { board: string; nodeDown?: number; replacementScheduled?: number; replacementRunning?: number; allServing: number }

async function labkubeRounds(lab: Lab): Promise<Timeline[]> {
  await lab.client.create(resources.deployments, 'default', newDeployment('web', 'nginx', 3, 80));
  await until('three replicas serving', 120_000, () => replicasServing(lab, selector, 3), 250);
  const results: Timeline[] = [];
  for (let i = 0; i < rounds; i++) {
    const pods = (await lab.pods(selector)).filter(isRunning);
    const board = boards.map((_, k) => boards[(i + k) % boards.length]!).find((b) => pods.some((p) => p.spec?.nodeName === b))!;
    const t = await pullPlug(lab, { board, selector, replicas: 3, mode: 'power', timeoutMs: 120_000 });
    log(`labkube round ${i + 1}: ${board} NotReady ${fmt(t.nodeNotReady)} s, evicted ${fmt(t.podEvicted)} s, scheduled ${fmt(t.replacementScheduled)} s, ` +
      `Running ${fmt(t.replacementRunning)} s, serving ${fmt(t.allServing)} s`);
    results.push(t);
    await lab.replug(board);
    await until(`${board} Ready`, 90_000, async () => isReady((await lab.nodes()).find((n) => n.metadata.name === board)!), 250);
    await until('no stale containers', 60_000, async () => {
      const live = new Set((await lab.pods(selector)).map((p) => p.metadata.uid));
      return (await lab.podContainers(board)).every((c) => live.has(c.uid));
    }, 250);
  }
  await lab.client.delete(resources.deployments, 'default', 'web', { propagationPolicy: 'Foreground' });
  await until('the web pods to go', 60_000, async () => (await lab.pods(selector)).length === 0, 250);
  await until('their containers to go', 60_000, async () => (await Promise.all(boards.map((b) => lab.podContainers(b)))).flat().length === 0, 500);
  return results;
}

// --- Docker Swarm on the same boards ------------------------------------------------------------

async function swarmRounds(lab: Lab): Promise<SwarmTimeline[]> {
  await swarmUp(lab, boards);
  // --no-resolve-image: there is no registry; the agent already loaded nginx:latest everywhere.
  await lab.exec(manager, ['docker', 'service', 'create', '--name', 'web', '--replicas', '3', '--no-resolve-image', '--detach', 'nginx:latest'], 60_000);
  await until('three swarm tasks serving', 120_000, () => serving(lab, 'web', 3), 500);
  const results: SwarmTimeline[] = [];
  for (let i = 0; i < rounds; i++) {
    // Only workers lose power: a single-manager swarm cannot survive its manager's loss.
    const tasks = (await tasksOf(lab, 'web')).filter((t) => t.desired === 'Running');
    const workers = boards.filter((b) => b !== manager);
    let board = workers.map((_, k) => workers[(i + k) % workers.length]!).find((b) => tasks.some((t) => t.node === b));
    if (!board) {
      await lab.exec(manager, ['docker', 'service', 'update', '--force', '--detach', 'web'], 60_000);
      await until('swarm tasks rebalanced', 120_000, async () => (await tasksOf(lab, 'web')).some((t) => t.desired === 'Running' && workers.includes(t.node) && t.state.startsWith('Running')) && serving(lab, 'web', 3), 500);
      const now = await tasksOf(lab, 'web');
      board = workers.find((b) => now.some((t) => t.node === b && t.desired === 'Running'))!;
    }
    const known = new Set((await tasksOf(lab, 'web')).map((t) => t.id));
    const t0 = Date.now();
    const seconds = () => (Date.now() - t0) / 1000;
    await lab.unplug(board);
    const marks: Partial<SwarmTimeline> = { board };
    await until('swarm to recover', 180_000, async () => {
      if (marks.nodeDown === undefined && (await swarmNodes(lab)).get(board) === 'Down') marks.nodeDown = seconds();
      const fresh = (await tasksOf(lab, 'web')).filter((t) => !known.has(t.id) && t.desired === 'Running');
      if (marks.replacementScheduled === undefined && fresh.length > 0) marks.replacementScheduled = seconds();
      if (marks.replacementRunning === undefined && fresh.some((t) => t.state.startsWith('Running'))) marks.replacementRunning = seconds();
      if (marks.replacementRunning === undefined || !(await serving(lab, 'web', 3, board))) return false;
      marks.allServing = seconds();
      return true;
    }, 200);
    log(`swarm round ${i + 1}: ${board} Down ${fmt(marks.nodeDown)} s, scheduled ${fmt(marks.replacementScheduled)} s, ` +
      `Running ${fmt(marks.replacementRunning)} s, serving ${fmt(marks.allServing)} s`);
    results.push(marks as SwarmTimeline);
    await lab.replug(board);
    await until(`${board} back in the swarm`, 120_000, async () => (await swarmNodes(lab)).get(board) === 'Ready', 500);
  }
  return results;
}

// --- main -----------------------------------------------------------------------------------------

const lab = new Lab({
  name: 'labkube-bench', dir: mkdtempSync(join(tmpdir(), 'labkube-bench-')), subnet: '172.29.79.0/24', port: await freePort(),
  serverArgs: ['--node-grace-period', flags['node-grace-period']!, '--default-toleration-seconds', flags['default-toleration-seconds']!],
  log: (l) => log(l),
});
const stopOnSignal = () => { void lab.down().finally(() => process.exit(130)); };
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);
let labkube: Timeline[] = [];
let swarm: SwarmTimeline[] = [];
try {
  log(`lab up (3 boards), ${rounds} rounds, --node-grace-period ${flags['node-grace-period']} --default-toleration-seconds ${flags['default-toleration-seconds']}`);
  await lab.up(3);
  await until('three Ready nodes', 60_000, async () => (await lab.nodes()).filter(isReady).length === 3, 250);
  labkube = await labkubeRounds(lab);
  if (!flags['skip-swarm']) swarm = await swarmRounds(lab);
} finally {
  await lab.down().catch((err: Error) => log(`down: ${err.message}`));
}

const phases: [string, (t: Timeline) => number | undefined][] = [
  ['node NotReady', (t) => t.nodeNotReady], ['pod evicted', (t) => t.podEvicted], ['replacement scheduled', (t) => t.replacementScheduled],
  ['replacement Running', (t) => t.replacementRunning], ['all replicas answer HTTP', (t) => t.allServing],
];
const swarmPhases: [string, (t: SwarmTimeline) => number | undefined][] = [
  ['node NotReady', (t) => t.nodeDown], ['pod evicted', () => undefined], ['replacement scheduled', (t) => t.replacementScheduled],
  ['replacement Running', (t) => t.replacementRunning], ['all replicas answer HTTP', (t) => t.allServing],
];
const stat = <T>(xs: T[], f: (t: T) => number | undefined) => {
  const v = xs.map(f).filter((x): x is number => x !== undefined);
  return v.length ? `${fmt(median(v))} / ${fmt(Math.max(...v))}` : '-';
};
console.log(`\nseconds after the power plug is pulled (median / worst of ${rounds}), 3 boards, 3 nginx replicas (swarm: node Down, no eviction step)`);
console.log(`${'phase'.padEnd(26)} ${'labkube'.padStart(12)} ${'swarm'.padStart(12)}`);
for (let i = 0; i < phases.length; i++) {
  console.log(`${phases[i]![0].padEnd(26)} ${stat(labkube, phases[i]![1]).padStart(12)} ${stat(swarm, swarmPhases[i]![1]).padStart(12)}`);
}
const out = flags.out ?? join(process.cwd(), 'test-output', 'failover.json');
try { mkdirSync(dirname(out), { recursive: true }); writeFileSync(out, JSON.stringify({ flags, labkube, swarm }, null, 2) + '\n'); console.log(`timelines: ${out}`); } catch { /* no output folder */ }
const lm = median(labkube.map((t) => t.allServing));
const sm = swarm.length ? median(swarm.map((t) => t.allServing)) : NaN;
console.log(`labkube_median_s=${lm.toFixed(1)} swarm_median_s=${Number.isNaN(sm) ? 'NA' : sm.toFixed(1)} ratio=${Number.isNaN(sm) ? 'NA' : (lm / sm).toFixed(2)}`);
