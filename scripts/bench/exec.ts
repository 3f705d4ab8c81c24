// `npm run bench:exec`: kubectl exec and cp through labkube (kubectl -> API server -> agent ->
// Docker's exec) beside Docker's own CLI on the same container, in the same run:
//   exec_ms / docker_exec_ms   the median of `kubectl exec POD -- true` and `docker exec ID true`
//   cp_mb_s / docker_cp_mb_s   100 MB copied into the pod with `kubectl cp` and `docker cp`
//   cp_ratio                   labkube's cp time over Docker's
// The API server runs in this process, the agent as a process from source; kubectl is stock 1.33.
// Last line: name=value pairs.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Node } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { labelKeys } from '../../agent/runtime/types.ts';
import { removeContainersOf, runSleepingPods, startAgentProcess, uniqueName } from '../../test/agent/support.ts';
import { eventually, startTestServer } from '../../test/support/server.ts';

const run = promisify(execFile);
const kubectlPath = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const samples = Number(process.env.BENCH_SAMPLES ?? 15);
const copyMb = Number(process.env.BENCH_COPY_MB ?? 100);
const log = (msg: string) => process.stderr.write(`bench:exec: ${msg}\n`);
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const timed = async (fn: () => Promise<unknown>) => { const t = performance.now(); await fn(); return performance.now() - t; };

const dir = mkdtempSync(join(tmpdir(), 'labkube-bench-exec-'));
const server = await startTestServer();
const node = uniqueName('bench-exec');
const agent = startAgentProcess(server, node, '127.0.0.1');
try {
  await eventually(async () => (await server.client.get<Node & KubeObject>(resourceFor('', 'nodes')!, undefined, node)).status?.conditions
    ?.some((c) => c.type === 'Ready' && c.status === 'True'), 120_000, 'the agent Ready');
  await runSleepingPods(server.client, node, ['bench']);
  const id = (await run('docker', ['ps', '-q', '--filter', `label=${labelKeys.node}=${node}`, '--filter', `label=${labelKeys.container}=main`])).stdout.trim().split('\n')[0];
  if (!id) throw new Error('the pod\'s container is not running');
  const kubectl = (args: string[]) => run(kubectlPath, args, { env: { ...process.env, KUBECONFIG: server.kubeconfigPath }, maxBuffer: 1 << 20 });

  // Alternated, one warm-up each, so neither side gets a quieter moment of the machine.
  await kubectl(['exec', 'bench', '--', 'true']);
  await run('docker', ['exec', id, 'true']);
  const ours: number[] = [];
  const docker: number[] = [];
  for (let i = 0; i < samples; i++) {
    ours.push(await timed(() => kubectl(['exec', 'bench', '--', 'true'])));
    docker.push(await timed(() => run('docker', ['exec', id, 'true'])));
  }
  log(`exec round trip over ${samples} samples: kubectl exec median ${median(ours).toFixed(0)} ms, docker exec ${median(docker).toFixed(0)} ms`);

  const file = join(dir, 'blob.bin');
  const data = randomBytes(copyMb * 1024 * 1024);
  writeFileSync(file, data);
  const cpMs = await timed(() => kubectl(['cp', file, 'bench:/tmp/blob.bin']));
  const dockerCpMs = await timed(() => run('docker', ['cp', file, `${id}:/tmp/blob-docker.bin`]));
  const sums = (await run('docker', ['exec', id, 'sha256sum', '/tmp/blob.bin', '/tmp/blob-docker.bin'])).stdout;
  const want = createHash('sha256').update(data).digest('hex');
  if (sums.split('\n').filter((l) => l.startsWith(want)).length !== 2) throw new Error(`a copy differs from the original:\n${sums}`);
  log(`cp of ${copyMb} MB: kubectl cp ${cpMs.toFixed(0)} ms, docker cp ${dockerCpMs.toFixed(0)} ms (checksums equal)`);
  const mbs = (ms: number) => (copyMb / (ms / 1000)).toFixed(1);
  console.log(`exec_ms=${median(ours).toFixed(0)} docker_exec_ms=${median(docker).toFixed(0)} cp_mb_s=${mbs(cpMs)} docker_cp_mb_s=${mbs(dockerCpMs)} cp_ratio=${(cpMs / dockerCpMs).toFixed(2)}`);
} finally {
  await agent.kill('SIGKILL');
  removeContainersOf([node]);
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
