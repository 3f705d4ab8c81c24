// `npm run bench:agent-memory`: the agent's resident memory, idle and with 10 nginx pods, run as
// a board runs it: the bundle with `node`, the node flags and environment the ansible role gives
// a board's service (labkube_agent_node_flags and labkube_agent_environment, read from
// ansible/group_vars/all.yml), the pod network on (the agent's default).
// Target: under 60 MB both ways on Node 18 (Debian bookworm and Raspberry Pi OS ship it).
//
//   --node PATH          the node binary to run the agent with (default: this one; boards run 18,
//                        e.g. `npx -p node@18 which node` gives one)
//   --pod-network MODE   auto (default, as boards) or none
//   --node-flags FLAGS   node/V8 flags for the agent instead of the board's, space-separated (to
//                        measure one, e.g. `--max-semi-space-size=1`; `--node-flags ''` for none)
//   --env NAME=VALUE,... the agent's environment instead of the board's (`--env ''` for none)
//
// RSS is VmRSS from /proc, the largest of the samples over a 10 s window once the agent has
// settled (registered, then 5 s; with pods, all Running, then 5 s); its anonymous (heap, stacks,
// malloc) and file-backed (the node binary, mapped libraries) parts are printed beside it. Last line: name=value pairs.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer } from '../../test/support/server.ts';
import { boardNodeOptions } from '../../test/agent/support.ts';
import { ensureAgentBundle, removeContainersOfNode, rssWindow, uninstallAgent } from './agent-launch.ts';

const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const flag = (name: string, fallback: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1]! : fallback; };
const nodeBinary = flag('--node', process.env.LABKUBE_AGENT_NODE ?? process.execPath);
const podNetwork = flag('--pod-network', 'auto');
const { nodeFlags: boardFlags, env: boardEnv } = boardNodeOptions();
const nodeFlags = process.argv.includes('--node-flags') ? flag('--node-flags', '').split(' ').filter(Boolean) : boardFlags;
const agentEnv: Record<string, string> = process.argv.includes('--env')
  ? Object.fromEntries(flag('--env', '').split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
  : boardEnv;
const asBoard = nodeFlags.join(' ') === boardFlags.join(' ') && JSON.stringify(agentEnv) === JSON.stringify(boardEnv);
const node = `mem-${process.pid}`;
const podCount = 10;

const settle = () => new Promise((r) => setTimeout(r, 5_000)); // a timed wait on purpose: memory after start-up work has finished

const bundle = ensureAgentBundle();
const nodeVersion = execFileSync(nodeBinary, ['--version'], { encoding: 'utf8' }).trim();
// Kubernetes' default 300 s toleration of an unreachable node, not labkube's 2 s: a loaded machine
// has stalled the API server in this process for seconds, and evicted pods would never run.
const server = await startTestServer({ defaultTolerationSeconds: 300 });
const dataDir = mkdtempSync(join(tmpdir(), 'labkube-agent-mem-'));
const agent = spawn(nodeBinary, [...nodeFlags, bundle, '--server', server.url, '--token-file', join(server.dataDir, 'join-token'), '--name', node,
  '--node-ip', '127.0.0.1', '--data-dir', dataDir, '--port', '0', '--pod-network', podNetwork, '--log-level', 'warn'],
{ stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...agentEnv } });
let output = '';
agent.stdout.on('data', (d: Buffer) => { output += d.toString(); });
agent.stderr.on('data', (d: Buffer) => { output += d.toString(); });
try {
  // A loaded machine starts a node process slowly: the deadlines are generous, the waits end at once.
  await eventually(async () => (await server.client.list(nodes)).items.length === 1, 120_000, 'node registered');
  await settle();
  const idle = await rssWindow(agent.pid!);

  for (let i = 0; i < podCount; i++) {
    await server.client.create(pods, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `mem-${i}` },
      spec: { nodeName: node, containers: [{ name: 'web', image: 'nginx:latest', imagePullPolicy: 'IfNotPresent' }] } } as KubeObject);
  }
  await eventually(async () => (await server.client.list(pods, 'default')).items
    .filter((p) => (p as KubeObject & { status?: { phase?: string } }).status?.phase === 'Running').length === podCount, 300_000, `${podCount} pods running`);
  await settle();
  const ten = await rssWindow(agent.pid!);

  const f = (x: number) => x.toFixed(1);
  const env = Object.entries(agentEnv).map(([k, v]) => `${k}=${v} `).join('');
  console.log(`agent run ${asBoard ? 'as a board runs it (ansible/group_vars/all.yml)' : 'NOT as a board runs it'}: ${env}node ${[...nodeFlags, ''].join(' ')}labkube-agent.mjs; node ${nodeVersion}, pod network ${podNetwork}`);
  console.log(`idle:    RSS ${f(idle.rss)} MB (anonymous ${f(idle.anon)}, file-backed ${f(idle.file)})`);
  console.log(`10 pods: RSS ${f(ten.rss)} MB (anonymous ${f(ten.anon)}, file-backed ${f(ten.file)})`);
  console.log(`node_version=${nodeVersion} pod_network=${podNetwork} as_board=${asBoard} agent_rss_idle_mb=${f(idle.rss)} agent_rss_10pods_mb=${f(ten.rss)}`);
} catch (err) {
  console.error(err);
  console.error(output.split('\n').slice(-20).join('\n'));
  process.exitCode = 1;
} finally {
  // The agent leaves its containers running when stopped (a restarted agent adopts them): remove them here.
  await new Promise<void>((res) => { if (agent.exitCode !== null) res(); else { agent.once('exit', () => res()); agent.kill('SIGKILL'); } });
  await removeContainersOfNode(node).catch((err: unknown) => console.error(`removing the containers failed: ${(err as Error).message}`));
  // The agent's own uninstall removes its pod network, iptables chains and files.
  if (podNetwork !== 'none') await uninstallAgent(nodeBinary, bundle, node, dataDir).catch((err: unknown) => console.error(`agent uninstall failed: ${(err as Error).message}`));
  rmSync(dataDir, { recursive: true, force: true });
  await server.stop().catch(() => undefined);
}
