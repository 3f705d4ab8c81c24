// `npm run bench:startup`: time from pod creation to Running (seen through an informer), for 1 pod
// and for 30 pods, beside plain `docker run -d` doing the same work in the same run; the time to
// delete 30 pods until their containers are gone, beside `docker rm -f`; and the agent's resident
// memory idle and with 10 pods. Last line: name=value pairs.
// Targets: labkube's median at most 20% over Docker's; agent RSS under 60 MB.
//
//   --pod-network MODE   auto (default, as boards run the agent): each pod gets a sandbox (the
//                        pause container) on the pod network and the app joins its namespace; the
//                        Docker baseline does the same work (`docker run` of the pause image on a
//                        bridge, then of nginx with --network container:ID). none: one container
//                        per pod on Docker's default bridge, against one `docker run` each.
//
// The agent runs as boards run it (agent-launch.ts). Every sample is timed from the moment its
// start was asked for: a pod's creation, or, for Docker, the moment the whole batch began
// (queueing included). The agent starts at most --parallel-starts containers at once; Docker's
// thirty are run both all at once and with that same limit, and the faster is the baseline.
//
// The API server runs in this process: everything here that waits on Docker is asynchronous, so
// the server keeps answering the agent meanwhile (a synchronous `docker rm` of thirty containers
// once stalled it past the agent's 10 s request deadline). Its pods tolerate an unreachable node
// for Kubernetes' default 300 s, not labkube's 2 s: on a loaded machine this process has stalled
// for up to 5 s (measured), the node was marked NotReady and its pods force-evicted, and the
// bench then waited for pods that no longer existed. Failover is measured by bench:failover; a
// pod evicted here still fails the run at once, saying so.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { Informer } from '../../control-plane/client/informer.ts';
import { startAgentProcess, type AgentLaunch } from '../../test/agent/support.ts';
import { eventually, startTestServer } from '../../test/support/server.ts';
import { containersOfNode, ensureAgentBundle, removeContainersOfNode, rssWindow, uninstallAgent } from './agent-launch.ts';

const run = promisify(execFile);
const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const image = 'nginx:latest';
const pauseImage = 'labkube/pause:latest';
const node = `bench-${process.pid}`;
const dockerNode = `${node}-docker`;
const flag = (name: string, fallback: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1]! : fallback; };
const podNetwork = flag('--pod-network', 'auto');
// Deadlines only bound a wait that never ends (each returns as soon as its condition holds), so
// they are sized for a loaded 2-core machine: at load average 50-75, thirty pods with the pod
// network (sixty containers) took over five minutes to start, Docker's own share included.
const startDeadlineMs = 900_000;
const removeDeadlineMs = 900_000;

/** Retries a request that failed on a dropped keep-alive connection; a 404 on delete is done already. */
async function retry<T>(f: () => Promise<T>): Promise<T | undefined> {
  for (let i = 0; ; i++) {
    try { return await f(); } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) return undefined;
      if (code !== 503 || i >= 3) throw err;
    }
  }
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };

/** The Docker baseline's bridge, standing in for the pod network. */
const dockerNetwork = `${node}-net`;

/** One pod's worth of work through `docker run -d`: with a pod network, a pause sandbox and nginx in its namespace. */
async function dockerPod(name: string): Promise<void> {
  const label = ['--label', `io.labkube.node=${dockerNode}`];
  if (podNetwork === 'none') {
    await run('docker', ['run', '-d', ...label, '--name', name, image]);
    return;
  }
  const { stdout } = await run('docker', ['run', '-d', ...label, '--name', `${name}-pause`, '--network', dockerNetwork, pauseImage]);
  await run('docker', ['run', '-d', ...label, '--name', name, '--network', `container:${stdout.trim()}`, image]);
}

/**
 * `count` pods' worth of `docker run -d`, at most `parallel` pods at a time, each timed from the
 * moment all were asked for (as a pod is timed from its creation, queueing included).
 */
async function dockerRun(count: number, parallel = count): Promise<number[]> {
  const t0 = performance.now();
  const times: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, async () => {
    for (let i = next++; i < count; i = next++) {
      await dockerPod(`${dockerNode}-${count}-${i}`);
      times.push(performance.now() - t0);
    }
  }));
  return times;
}

/** `docker rm -f` of the baseline's containers: the time Docker alone takes to remove them. */
async function dockerRemove(): Promise<number> {
  const t0 = performance.now();
  await removeContainersOfNode(dockerNode);
  return performance.now() - t0;
}

const bundle = ensureAgentBundle();
const server = await startTestServer({ defaultTolerationSeconds: 300 });
// The agent's default, passed explicitly: the queued Docker baseline uses the same number.
const parallelStarts = 8;
const shippedAgent: AgentLaunch = { script: bundle };
const agentDir = mkdtempSync(join(tmpdir(), `labkube-agent-${node}-`));
const agent = startAgentProcess(server, node, '127.0.0.2', ['--parallel-starts', String(parallelStarts), '--pod-network', podNetwork], agentDir, shippedAgent);
// Each pod's first Running, as an informer sees it: a watch that ends is resumed from its last
// revision, so no Running is missed however long the run takes.
const running = new Map<string, number>();
const informer = new Informer<Pod & KubeObject>({ client: server.client, resource: pods, namespace: 'default' });
const seen = (p: Pod & KubeObject) => { if (p.status?.phase === 'Running' && !running.has(p.metadata.name!)) running.set(p.metadata.name!, performance.now()); };
/** Pods this bench deleted; any other deletion is an eviction, which no wait below would survive. */
const deleting = new Set<string>();
let evict!: (err: Error) => void;
/** Rejects when a pod is evicted: raced with every wait, so the run fails at once and says why. */
const eviction = new Promise<never>((_, reject) => { evict = reject; });
eviction.catch(() => undefined); // raced below; an eviction outside a wait is reported by the next one
informer.on({ add: seen, update: (_, p) => seen(p), delete: (p) => {
  if (!deleting.has(p.metadata.name!)) evict(new Error(`pod ${p.metadata.name} was deleted by the control plane (evicted: its node was marked NotReady), not by this bench`));
} });
const unlessEvicted = <T>(wait: Promise<T>) => Promise.race([wait, eviction]);
try {
  if (podNetwork !== 'none') await run('docker', ['network', 'create', '--label', `io.labkube.node=${dockerNode}`, dockerNetwork]);
  await eventually(async () => (await server.client.list(nodes)).items.length === 1, 120_000, 'node registered');
  await new Promise((r) => setTimeout(r, 5000)); // a timed wait on purpose: start-up work settles before idle memory is read
  const idle = await rssWindow(agent.child.pid!, 5_000);
  await informer.start().waitForSync();

  async function labkube(count: number, prefix: string): Promise<number[]> {
    const created = new Map<string, number>();
    await Promise.all(Array.from({ length: count }, async (_, i) => {
      const name = `${prefix}-${i}`;
      created.set(name, performance.now());
      await retry(() => server.client.create(pods, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: node, containers: [{ name: 'web', image, imagePullPolicy: 'IfNotPresent' }] } } as KubeObject));
    }));
    await unlessEvicted(eventually(() => [...created.keys()].every((n) => running.has(n)), startDeadlineMs, `${count} pods running`));
    return [...created].map(([name, t]) => running.get(name)! - t);
  }
  /** Deletes pods and waits for their containers to go, so the next round starts from the same engine state. Returns the time taken. */
  async function deletePods(names: string[], leave = 0): Promise<number> {
    const t0 = performance.now();
    names.forEach((n) => deleting.add(n));
    await Promise.all(names.map((n) => retry(() => server.client.delete(pods, 'default', n, { gracePeriodSeconds: 0 }))));
    // With a pod network each pod is two containers (its sandbox and nginx).
    const perPod = podNetwork === 'none' ? 1 : 2;
    await unlessEvicted(eventually(async () => (await containersOfNode(node)).length <= leave * perPod, removeDeadlineMs, `${leave} pods left`));
    return performance.now() - t0;
  }
  const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

  // Rounds alternate which side goes first, so neither always meets an engine still busy with
  // the other's clean-up; the medians are over every sample of every round.
  const dockerOne: number[] = [];
  const labkubeOne: number[] = [];
  for (let i = 0; i < 7; i++) { // single starts: a median of one sample is noise
    const sides = [
      async () => { dockerOne.push(...await dockerRun(1)); await dockerRemove(); },
      async () => labkubeOne.push(...await labkube(1, `one-${i}`)),
    ];
    for (const side of i % 2 ? sides.reverse() : sides) await side();
    await deletePods(names(`one-${i}`, 1));
    console.log(`1 pod, round ${i + 1}/7: labkube ${Math.round(labkubeOne.at(-1)!)} ms, docker ${Math.round(dockerOne.at(-1)!)} ms`);
  }
  // Thirty: the agent starts at most `parallelStarts` containers at once. Docker is run both
  // ways, all thirty at once and queued the same as the agent, and the faster is the baseline.
  const dockerAll30: number[] = [];
  const dockerQueued30: number[] = [];
  const labkube30: number[] = [];
  const labkubeDelete30: number[] = [];
  const dockerRemove30: number[] = [];
  const rounds = 3;
  for (let i = 0; i < rounds; i++) {
    const sides = [
      async () => { dockerAll30.push(...await dockerRun(30)); dockerRemove30.push(await dockerRemove()); },
      async () => { dockerQueued30.push(...await dockerRun(30, parallelStarts)); dockerRemove30.push(await dockerRemove()); },
      async () => labkube30.push(...await labkube(30, `many-${i}`)),
    ];
    for (const side of [...sides.slice(i % 3), ...sides.slice(0, i % 3)]) await side();
    if (i < rounds - 1) labkubeDelete30.push(await deletePods(names(`many-${i}`, 30)));
    // Progress on a slow machine, where a round takes minutes.
    console.log(`30 pods, round ${i + 1}/${rounds}: labkube median ${Math.round(median(labkube30.slice(-30)))} ms, docker all at once ${Math.round(median(dockerAll30.slice(-30)))} ms, ${parallelStarts} at a time ${Math.round(median(dockerQueued30.slice(-30)))} ms${labkubeDelete30.length > i ? `; labkube delete ${Math.round(labkubeDelete30.at(-1)!)} ms` : ''}`);
  }
  const docker30 = median(dockerQueued30) < median(dockerAll30) ? dockerQueued30 : dockerAll30;
  // Ten pods for the memory figure: delete down from thirty.
  await deletePods(names(`many-${rounds - 1}`, 30).slice(10), 10);
  await new Promise((r) => setTimeout(r, 5000)); // as for idle: let the deletions' work settle
  const ten = await rssWindow(agent.child.pid!, 5_000);

  const r = (x: number) => Math.round(x);
  const m1 = median(labkubeOne); const d1 = median(dockerOne); const m30 = median(labkube30); const d30 = median(docker30);
  const del30 = median(labkubeDelete30); const rm30 = median(dockerRemove30);
  console.log(`pod network: ${podNetwork}${podNetwork === 'none' ? '' : ' (Docker baseline: a pause container on a bridge, then nginx in its namespace)'}`);
  console.log(`1 pod, ${labkubeOne.length} rounds: labkube median ${r(m1)} ms, docker run median ${r(d1)} ms`);
  console.log(`30 pods, ${rounds} rounds: labkube median ${r(m30)} ms (max ${r(Math.max(...labkube30))}); docker run all at once median ${r(median(dockerAll30))} ms (max ${r(Math.max(...dockerAll30))}), ${parallelStarts} at a time median ${r(median(dockerQueued30))} ms (max ${r(Math.max(...dockerQueued30))})`);
  console.log(`delete 30 pods until their containers are gone: labkube median ${r(del30)} ms; docker rm -f median ${r(rm30)} ms`);
  console.log(`agent RSS (largest over 5 s): idle ${idle.rss.toFixed(1)} MB, 10 pods ${ten.rss.toFixed(1)} MB`);
  console.log(`pod_network=${podNetwork} labkube_1_ms=${r(m1)} docker_1_ms=${r(d1)} overhead_1_pct=${r((m1 / d1 - 1) * 100)} labkube_30_ms=${r(m30)} docker_30_ms=${r(d30)} overhead_30_pct=${r((m30 / d30 - 1) * 100)} labkube_delete_30_ms=${r(del30)} docker_rm_30_ms=${r(rm30)} agent_rss_idle_mb=${idle.rss.toFixed(1)} agent_rss_10pods_mb=${ten.rss.toFixed(1)}`);
} catch (err) {
  console.error(err);
  // The whole agent log, for finding where the time went; the tail of its warnings here.
  const log = join(tmpdir(), `labkube-bench-startup-${process.pid}-agent.log`);
  writeFileSync(log, agent.output());
  console.error(agent.output().split('\n').filter((l) => !l.includes('"level":30')).slice(-15).join('\n'));
  console.error(`agent log: ${log}; agent ${agent.child.exitCode === null && agent.child.signalCode === null ? 'running' : `exited (${agent.child.exitCode ?? agent.child.signalCode})`}`);
  const { stdout } = await run('docker', ['ps', '-a', '--format', '{{.Names}} {{.Status}}', '--filter', `label=io.labkube.node=${node}`]).catch(() => ({ stdout: '' }));
  console.error(stdout);
  process.exitCode = 1;
} finally {
  await informer.stop();
  await agent.kill('SIGKILL');
  for (const n of [node, dockerNode]) await removeContainersOfNode(n).catch((err: unknown) => console.error(`removing containers failed: ${(err as Error).message}`));
  if (podNetwork !== 'none') {
    await run('docker', ['network', 'rm', dockerNetwork]).catch(() => undefined);
    await uninstallAgent(process.execPath, bundle, node, agentDir).catch((err: unknown) => console.error(`agent uninstall failed: ${(err as Error).message}`));
  }
  rmSync(agentDir, { recursive: true, force: true });
  await server.stop().catch(() => undefined);
  process.exit(); // nothing else should keep the process alive; make sure of it
}
