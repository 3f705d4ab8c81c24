// runtime/docker.ts against the real engine: the calls the agent makes besides create, start
// and stop (which agent.integration.test.ts covers through pods).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DockerRuntime } from '../../agent/runtime/docker.ts';
import type { ImageEvent } from '../../agent/runtime/types.ts';
import { eventually } from '../support/server.ts';
import { removeContainersOf, uniqueName } from './support.ts';

const node = uniqueName('rt');
const tag = `labkube-test-${node}:1`;
const rt = new DockerRuntime();
let id: string;

before(async () => {
  id = await rt.createContainer({
    // stdout and stderr reach Docker's log through separate pipes: the pause keeps their order certain.
    name: node, image: 'busybox:latest', entrypoint: ['sh', '-c', 'echo out; sleep 0.3; echo err >&2; sleep 300'], env: [], labels: { 'io.labkube.node': node }, ports: [],
  });
  await rt.startContainer(id);
});

after(() => {
  removeContainersOf([node]);
  execFileSync('docker', ['rmi', tag], { stdio: 'ignore' });
});

test('listContainerLabels answers with IDs, names and labels in one call', async () => {
  const [only, ...more] = await rt.listContainerLabels({ 'io.labkube.node': node });
  assert.deepEqual(more, []);
  assert.equal(only!.id, id);
  assert.equal(only!.name, node);
  assert.equal(only!.labels['io.labkube.node'], node);
  assert.equal((await rt.inspectContainer(id))?.status, 'running');
  assert.equal(await rt.inspectContainer('0000000000000000'), undefined);
});

test('exec returns the exit code and the output of both streams, and times out', async () => {
  const r = await rt.exec(id, ['sh', '-c', 'echo hi; echo there >&2; exit 3'], 5_000);
  assert.equal(r.exitCode, 3);
  assert.match(r.output, /hi\n/);
  assert.match(r.output, /there\n/);
  await assert.rejects(rt.exec(id, ['sleep', '5'], 200), /timed out after 200 ms/);
});

test('logs are demuxed, with tail, and followed until the reader closes', async () => {
  const read = async (s: NodeJS.ReadableStream) => { let t = ''; for await (const c of s) t += c.toString(); return t; };
  await eventually(async () => (await read(await rt.logs(id, { follow: false, timestamps: false }))).includes('err'), 15_000, 'both lines logged');
  assert.equal(await read(await rt.logs(id, { follow: false, timestamps: false, tailLines: 1 })), 'err\n');
  const followed = await rt.logs(id, { follow: true, timestamps: false });
  const first = await new Promise<string>((r) => followed.once('data', (d: Buffer) => r(d.toString())));
  assert.match(first, /out|err/);
  (followed as unknown as { destroy(): void }).destroy();
});

test('image events arrive for a tag, and inspect finds the tag (slashes and ports in a name are a miss, not an error)', async () => {
  const abort = new AbortController();
  const seen: ImageEvent[] = [];
  const watching = rt.watchImageEvents((e) => seen.push(e), abort.signal);
  await new Promise((r) => setTimeout(r, 300)); // the stream is open before the tag
  execFileSync('docker', ['tag', 'busybox:latest', tag]);
  await eventually(() => seen.some((e) => e.action === 'tag'), 5_000, 'tag event');
  abort.abort();
  await watching;
  assert.ok((await rt.inspectImage(tag))?.tags.includes(tag));
  assert.equal(await rt.inspectImage('registry.invalid:5000/lab/none:1'), undefined);
});

test('an airgap tarball loads, and a failed pull says why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'labkube-load-'));
  try {
    execFileSync('docker', ['save', '-o', join(dir, 'busybox.tar'), 'busybox:latest']);
    await rt.loadImage(join(dir, 'busybox.tar'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(rt.pullImage('no-such-registry.invalid/nothing:1'), /no-such-registry\.invalid/);
});
