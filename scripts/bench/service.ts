// Service benchmark on simulated boards (scripts/lab.sh): what a user of a Service feels while a
// board dies. A client on board1 sends 20 requests per second, each on a new connection with a
// 2 s timeout (scripts/lab/load-client.mjs), to board1's NodePort of a 3-replica nginx, while
// the power plug of another board holding a replica is pulled, N times. Then the same boards run
// Docker Swarm with the same client against its routing mesh, side by side in the same run.
//
// Swarm's routing mesh (the ingress network behind a published port) and its service VIPs are
// IPVS; a kernel without IPVS (CONFIG_IP_VS unset, as on this machine, which also loads no
// modules) refuses every connection to a published port. Then Swarm is measured at what it can
// do there: DNS round robin (`--endpoint-mode dnsrr`) on an overlay network, the client running
// in a container of that network on board1 and resolving `web` at Docker's DNS before each
// request. Only workers lose power: a single-manager swarm cannot survive its manager's loss.
//
// Also, on labkube, from board1 against one nginx pinned to board3:
//   proxy_p50_overhead_ms   p50 latency of a request through board1's NodePort minus p50 of the
//                           same request sent straight to the pod IP (sequential requests, each on
//                           a new connection, the welcome page; median of alternating rounds)
//   proxy_throughput_ratio  MB/s downloading a 10 MB file through the NodePort over MB/s from
//                           the pod IP (sequential downloads, each on a new connection)
//
//   npx tsx scripts/bench/service.ts [--rounds 5] [--skip-swarm] [--skip-labkube]
//       [--latency-count 200] [--throughput-count 10] [--out FILE]
// The last line is machine-readable:
//   labkube_failed=N swarm_failed=M labkube_max_gap_ms=X swarm_max_gap_ms=Y proxy_p50_overhead_ms=P proxy_throughput_ratio=R
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { newDeployment } from '../../control-plane/cli/commands/create.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { labelHostname } from '../../control-plane/api/well-known.ts';
import { freePort } from '../../test/support/process.ts';
import { isReady, isRunning, Lab, pullPlug, replicasServing, resources, sleep, until } from '../lab/lab.ts';
import {
  assertRoutedToLab, describeFailures, httpGetFrom, installLoadClient, measureLatency, measureThroughput, startLoad, type LoadOptions, type LoadResult,
} from '../lab/load.ts';
import { endpointsOf, execInPod, formatEndpoints, getService, newNodePortService, servicesAgentArgs } from '../lab/services.ts';
import { hasIpvs, runningTasks, swarmManager, swarmNodes, swarmServing, swarmTasks, swarmUp } from '../lab/swarm.ts';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'skip-swarm': { type: 'boolean', default: false },
    'skip-labkube': { type: 'boolean', default: false },
    'latency-count': { type: 'string', default: '200' },
    'throughput-count': { type: 'string', default: '10' },
    out: { type: 'string' },
    // Development: keep the lab up at the end (--keep), or run on one kept before (--lab-dir, --lab-port).
    keep: { type: 'boolean', default: false },
    'lab-dir': { type: 'string' },
    'lab-port': { type: 'string' },
  },
});
const rounds = Number(flags.rounds);
const boards = ['board1', 'board2', 'board3'];
const client = 'board1';
const victims = ['board2', 'board3'];
const selector = 'app=web';
// Load before the pull and after recovery, so a round shows the steady state on both sides.
const settleMs = 2_000;
const log = (s: string) => process.stderr.write(`service: ${s}\n`);
const services = resourceFor('', 'services')!;

interface Round { side: 'labkube' | 'swarm'; board: string; requests: number; failed: number; maxGapMs: number; p99Ms: number; recoveredS: number; failures: string[] }

function round(side: Round['side'], board: string, r: LoadResult, t0: number, recoveredS: number): Round {
  const out = { side, board, requests: r.requests, failed: r.failed, maxGapMs: r.maxGapMs, p99Ms: r.p99Ms, recoveredS, failures: describeFailures(r, t0) };
  log(`${side} round: ${board} power pulled: ${r.failed}/${r.requests} failed, max gap ${r.maxGapMs.toFixed(0)} ms, ` +
    `p99 ${r.p99Ms.toFixed(1)} ms, recovered in ${recoveredS.toFixed(1)} s${out.failures.length ? `; failures: ${out.failures.slice(0, 8).join(', ')}` : ''}`);
  return out;
}

// --- labkube --------------------------------------------------------------------------------------

async function labkubeRounds(lab: Lab): Promise<Round[]> {
  await lab.client.create(resources.deployments, 'default', newDeployment('web', 'nginx', 3, 80));
  await lab.client.create(services, 'default', newNodePortService('web', { app: 'web' }));
  await until('three replicas serving', 180_000, () => replicasServing(lab, selector, 3), 250);
  const nodePort = await until('a nodePort', 30_000, async () => (await getService(lab, 'web')).ports[0]?.nodePort, 250);
  const url = `http://${lab.boardIp(client)}:${nodePort}/`;
  await until('three ready endpoints', 60_000, async () => (await endpointsOf(lab, 'web')).filter((e) => e.ready).length === 3, 250);
  await until(`board1's NodePort ${nodePort} serving`, 60_000, async () => (await httpGetFrom(lab, client, url)).includes('Welcome to nginx'), 250);
  const results: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    const board = await labkubeVictim(lab, i);
    const load = startLoad(lab, client, { url, maxDurationS: 300 });
    await sleep(settleMs);
    const t0 = Date.now();
    const t = await pullPlug(lab, { board, selector, replicas: 3, mode: 'power', timeoutMs: 180_000 }).catch(async (err: Error) => {
      await load.stop().catch(() => undefined);
      throw err;
    });
    await sleep(settleMs);
    results.push(round('labkube', board, await load.stop(), t0, t.allServing));
    await lab.replug(board);
    await until(`${board} Ready`, 120_000, async () => isReady((await lab.nodes()).find((n) => n.metadata.name === board)!), 250);
    await until('no stale containers', 60_000, async () => {
      const live = new Set((await lab.pods(selector)).map((p) => p.metadata.uid));
      return (await lab.podContainers(board)).every((c) => live.has(c.uid) || !c.pod.startsWith('web-'));
    }, 250);
    await until('three ready endpoints', 60_000, async () => (await endpointsOf(lab, 'web')).filter((e) => e.ready).length === 3, 250);
  }
  log(`endpoints after the rounds: ${formatEndpoints(await endpointsOf(lab, 'web'))}`);
  return results;
}

/** A board other than the client's that holds a running replica, taking turns. */
async function labkubeVictim(lab: Lab, i: number): Promise<string> {
  const holders = async () => new Set((await lab.pods(selector)).filter(isRunning).map((p) => p.spec!.nodeName!));
  const order = victims.map((_, k) => victims[(i + k) % victims.length]!);
  const held = await holders();
  const found = order.find((b) => held.has(b));
  if (found) return found;
  // Every replica ended up on board1: delete one, its replacement is spread to an emptier board.
  const onClient = (await lab.pods(selector)).find((p) => isRunning(p) && p.spec?.nodeName === client)!;
  await lab.client.delete(resources.pods, 'default', onClient.metadata.name!);
  return until('a replica on board2 or board3', 60_000, async () => { const h = await holders(); return order.find((b) => h.has(b)); }, 250);
}

async function proxyOverhead(lab: Lab): Promise<{ overheadMs: number; ratio: number; detail: Record<string, number[]> }> {
  const echo = newDeployment('echo', 'nginx', 1, 80);
  (echo.spec as { template: { spec: Record<string, unknown> } }).template.spec.nodeSelector = { [labelHostname]: 'board3' };
  await lab.client.create(resources.deployments, 'default', echo);
  await lab.client.create(services, 'default', newNodePortService('echo', { app: 'echo' }));
  const pod = await until('the echo pod Running on board3', 120_000, async () =>
    (await lab.pods('app=echo')).find((p) => isRunning(p) && p.status?.podIP && p.spec?.nodeName === 'board3'), 250);
  // A 10 MB file (10^7 bytes) in nginx's document root (Debian's nginx: /var/www/html).
  await execInPod(lab, 'board3', pod.metadata.name!, ['sh', '-c', 'head -c 10000000 /dev/zero >/var/www/html/10m.bin']);
  const nodePort = await until('echo\'s nodePort', 30_000, async () => (await getService(lab, 'echo')).ports[0]?.nodePort, 250);
  const viaService = `http://${lab.boardIp(client)}:${nodePort}`;
  const direct = `http://${pod.status!.podIP}`;
  await until('echo through the NodePort and at its pod IP from board1', 60_000, async () =>
    (await httpGetFrom(lab, client, `${viaService}/`)).includes('Welcome to nginx') && (await httpGetFrom(lab, client, `${direct}/`)).includes('Welcome to nginx'), 250);
  const count = Number(flags['latency-count']);
  const p50 = { service: [] as number[], direct: [] as number[] };
  // Alternating rounds, so a busy moment on this shared machine weighs on both sides alike.
  for (let k = 0; k < 3; k++) {
    p50.direct.push((await measureLatency(lab, client, `${direct}/`, count)).p50Ms);
    p50.service.push((await measureLatency(lab, client, `${viaService}/`, count)).p50Ms);
  }
  const downloads = Number(flags['throughput-count']);
  const mbps = { service: [] as number[], direct: [] as number[] };
  for (let k = 0; k < 2; k++) {
    mbps.direct.push((await measureThroughput(lab, client, `${direct}/10m.bin`, downloads, 1)).mbPerS);
    mbps.service.push((await measureThroughput(lab, client, `${viaService}/10m.bin`, downloads, 1)).mbPerS);
  }
  log(`p50 ms: NodePort ${p50.service.join(' / ')}, pod IP ${p50.direct.join(' / ')}; MB/s: NodePort ${mbps.service.join(' / ')}, pod IP ${mbps.direct.join(' / ')}`);
  return {
    overheadMs: median(p50.service) - median(p50.direct), ratio: median(mbps.service) / median(mbps.direct),
    detail: { p50Service: p50.service, p50Direct: p50.direct, mbpsService: mbps.service, mbpsDirect: mbps.direct },
  };
}

async function labkubeCleanup(lab: Lab): Promise<void> {
  for (const name of ['web', 'echo']) {
    await lab.client.delete(services, 'default', name).catch(() => undefined);
    await lab.client.delete(resources.deployments, 'default', name, { propagationPolicy: 'Foreground' }).catch(() => undefined);
  }
  await until('the pods to go', 120_000, async () => (await lab.client.list(resources.pods, 'default')).items.length === 0, 500);
}

// --- Docker Swarm ----------------------------------------------------------------------------------

const swarmClient = 'labkube-bench-client';

/** The service and how the client reaches it: the routing mesh if the kernel has IPVS, else DNS round robin. */
async function swarmService(lab: Lab): Promise<{ mode: string; load: Omit<LoadOptions, 'maxDurationS'> }> {
  // Each object is created only when missing, so a kept lab (--lab-dir) runs again.
  const exists = (board: string, args: string[]) => lab.exec(board, ['docker', ...args]).then(() => true, () => false);
  const ensure = async (board: string, inspect: string[], create: string[]) => {
    if (!(await exists(board, inspect))) await lab.exec(board, ['docker', ...create], 60_000);
  };
  const common = ['--name', 'web', '--replicas', '3', '--no-resolve-image', '--detach'];
  if (await hasIpvs(lab, swarmManager)) {
    await ensure(swarmManager, ['service', 'inspect', 'web'], ['service', 'create', ...common, '--publish', 'published=8080,target=80', 'nginx:latest']);
    return { mode: 'routing mesh (published port 8080)', load: { url: `http://${lab.boardIp(client)}:8080/` } };
  }
  log('this kernel has no IPVS: Swarm\'s routing mesh cannot run; measuring DNS round robin on an overlay network instead');
  // A subnet of its own, away from labkube's pod (10.42/16) and service (10.43/16) CIDRs.
  await ensure(swarmManager, ['network', 'inspect', 'bench'], ['network', 'create', '--driver', 'overlay', '--attachable', '--subnet', '10.99.0.0/24', 'bench']);
  await ensure(swarmManager, ['service', 'inspect', 'web'], ['service', 'create', ...common, '--endpoint-mode', 'dnsrr', '--network', 'bench', 'nginx:latest']);
  await ensure(client, ['inspect', swarmClient], ['run', '-d', '--name', swarmClient, '--network', 'bench', 'busybox:latest', 'sleep', '86400']);
  return { mode: 'DNS round robin (--endpoint-mode dnsrr, overlay network)', load: { url: 'http://web/', dns: '127.0.0.11', netnsOf: swarmClient } };
}

async function swarmRounds(lab: Lab): Promise<{ mode: string; rounds: Round[] }> {
  await swarmUp(lab, boards);
  const { mode, load: how } = await swarmService(lab);
  await until('three swarm tasks serving', 180_000, () => swarmServing(lab, 'web', 3), 500);
  const probe = startLoad(lab, client, { ...how, maxDurationS: 60 });
  await sleep(1_000);
  const first = await probe.stop();
  if (first.requests - first.failed === 0) throw new Error(`the swarm client reaches nothing (${mode}): ${describeFailures(first, first.lines[0]?.startMs ?? 0).join(', ')}`);
  const results: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    const board = await swarmVictim(lab, i);
    const known = new Set((await swarmTasks(lab, 'web')).map((t) => t.id));
    const load = startLoad(lab, client, { ...how, maxDurationS: 300 });
    await sleep(settleMs);
    const t0 = Date.now();
    await lab.unplug(board);
    let recoveredS = NaN;
    try {
      await until('swarm to recover', 180_000, async () => {
        const fresh = runningTasks(await swarmTasks(lab, 'web')).filter((t) => !known.has(t.id));
        return fresh.length > 0 && swarmServing(lab, 'web', 3, board);
      }, 250);
      recoveredS = (Date.now() - t0) / 1000;
      await sleep(settleMs);
    } finally {
      results.push(round('swarm', board, await load.stop(), t0, recoveredS));
    }
    await lab.replug(board);
    await until(`${board} back in the swarm`, 120_000, async () => (await swarmNodes(lab)).get(board) === 'Ready', 500);
  }
  return { mode, rounds: results };
}

async function swarmVictim(lab: Lab, i: number): Promise<string> {
  const order = victims.map((_, k) => victims[(i + k) % victims.length]!);
  const holder = async () => { const tasks = runningTasks(await swarmTasks(lab, 'web')); return order.find((b) => tasks.some((t) => t.node === b)); };
  const found = await holder();
  if (found) return found;
  // Swarm does not rebalance by itself: a forced update spreads the tasks again.
  await lab.exec(swarmManager, ['docker', 'service', 'update', '--force', '--detach', 'web'], 60_000);
  return until('swarm tasks rebalanced', 180_000, async () => (await swarmServing(lab, 'web', 3)) && holder(), 500);
}

// --- main -----------------------------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const reuse = flags['lab-dir'] !== undefined;
const lab = new Lab({
  name: 'labkube-bench-svc', dir: flags['lab-dir'] ?? mkdtempSync(join(tmpdir(), 'labkube-bench-svc-')), subnet: '172.29.81.0/24',
  port: reuse ? Number(flags['lab-port']) : await freePort(), agentArgs: servicesAgentArgs, bundle: !reuse, log: (l) => log(l),
});
const stopOnSignal = () => { void (flags.keep ? Promise.resolve() : lab.down()).finally(() => process.exit(130)); };
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);
let labkube: Round[] = [];
let swarm: { mode: string; rounds: Round[] } = { mode: 'skipped', rounds: [] };
let proxy: Awaited<ReturnType<typeof proxyOverhead>> | undefined;
const errors: string[] = [];
try {
  log(`lab up (3 boards), ${rounds} power pulls per side, agent flags: ${servicesAgentArgs.join(' ') || '(none)'}`);
  if (reuse) lab.connect(); else await lab.up(3);
  await assertRoutedToLab(lab, boards.map((b) => lab.boardIp(b)));
  await until('three Ready nodes', 120_000, async () => (await lab.nodes()).filter(isReady).length === 3, 250);
  await installLoadClient(lab, client);
  if (!flags['skip-labkube']) {
    // A failing side is reported, and the other side still runs.
    try {
      labkube = await labkubeRounds(lab);
      proxy = await proxyOverhead(lab);
    } catch (err) { errors.push(`labkube: ${(err as Error).message}`); log(errors.at(-1)!); }
    await labkubeCleanup(lab).catch((err: Error) => log(`cleanup: ${err.message}`));
  }
  if (!flags['skip-swarm']) {
    try { swarm = await swarmRounds(lab); } catch (err) { errors.push(`swarm: ${(err as Error).message}`); log(errors.at(-1)!); }
  }
} finally {
  if (flags.keep) log(`lab kept: --lab-dir ${lab.options.dir} --lab-port ${lab.options.port}`);
  else await lab.down().catch((err: Error) => log(`down: ${err.message}`));
}

const sum = (rs: Round[]) => rs.reduce((a, r) => a + r.failed, 0);
const maxGap = (rs: Round[]) => (rs.length ? Math.max(...rs.map((r) => r.maxGapMs)) : NaN);
const cell = (rs: Round[], f: (r: Round) => string) => (rs.length ? rs.map(f).join('  ') : '-');
console.log(`\n20 requests/s on new connections (2 s timeout) from board1 during ${rounds} power pulls of a board holding a replica`);
console.log(`swarm: ${swarm.mode}`);
console.log(`${'side'.padEnd(8)} ${'failed/requests per round'.padEnd(44)} max gap ms per round`);
for (const [name, rs] of [['labkube', labkube], ['swarm', swarm.rounds]] as const) {
  console.log(`${name.padEnd(8)} ${cell(rs, (r) => `${r.failed}/${r.requests}`).padEnd(44)} ${cell(rs, (r) => r.maxGapMs.toFixed(0))}`);
}
if (proxy) {
  console.log(`proxy: p50 overhead ${proxy.overheadMs.toFixed(2)} ms (NodePort vs pod IP, board1 to a pod on board3); ` +
    `10 MB download ${median(proxy.detail.mbpsService!).toFixed(1)} vs ${median(proxy.detail.mbpsDirect!).toFixed(1)} MB/s`);
}
for (const e of errors) console.log(`error: ${e}`);
const out = flags.out ?? join(process.cwd(), 'test-output', 'service.json');
try { mkdirSync(dirname(out), { recursive: true }); writeFileSync(out, JSON.stringify({ flags, labkube, swarm, proxy, errors }, null, 2) + '\n'); console.log(`rounds: ${out}`); } catch { /* no output folder */ }
const n = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : 'NA');
console.log(`labkube_failed=${labkube.length ? sum(labkube) : 'NA'} swarm_failed=${swarm.rounds.length ? sum(swarm.rounds) : 'NA'} ` +
  `labkube_max_gap_ms=${n(maxGap(labkube), 0)} swarm_max_gap_ms=${n(maxGap(swarm.rounds), 0)} ` +
  `proxy_p50_overhead_ms=${n(proxy?.overheadMs ?? NaN, 2)} proxy_throughput_ratio=${n(proxy?.ratio ?? NaN, 2)}`);
process.exitCode = errors.length ? 1 : 0;
