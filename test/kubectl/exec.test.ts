// Stock kubectl exec, cp, run -i and port-forward, over SPDY (1.27, 1.29) and WebSocket (1.30,
// 1.33), through labkube's pods/exec, pods/attach and pods/portforward to a real agent running
// real Docker containers: output on both streams, exit codes, stdin, terminals and resize, cp of
// a 10 MB file both ways with equal checksums, three requests at once through a forwarded port,
// the official JavaScript and Python clients' exec, and the refusals a user meets. Needs the Docker engine and the offline
// images (scripts/build-images.sh).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import type { Node } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { removeContainersOf, runSleepingPods, startAgentProcess, uniqueName, type AgentProcess } from '../agent/support.ts';
import { runCommand, startCommand } from '../cli/run.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';

const nodes = resourceFor('', 'nodes')!;
const kubectlBinary = (version: string) => `/usr/lib/google-cloud-sdk/bin/kubectl.${version}`;
// 1.27-1.29 speak SPDY for exec, 1.30 and later WebSocket.
const versions = ['1.27', '1.29', '1.30', '1.33'];
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('kubectl exec and cp, through the API server to a real agent', { timeout: 600_000 }, () => {
  let server: TestServer;
  let agent: AgentProcess;
  let dir: string;
  const node = uniqueName('exec');
  const kubectl = (version: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
    runCommand(kubectlBinary(version), args, { env: { KUBECONFIG: server.kubeconfigPath, ...options.env }, timeoutMs: 90_000, ...(options.input !== undefined && { input: options.input }) });

  before(async () => {
    for (const v of versions) assert.ok(existsSync(kubectlBinary(v)), `kubectl ${v} at ${kubectlBinary(v)}`);
    dir = mkdtempSync(join(tmpdir(), 'labkube-exec-'));
    server = await startTestServer();
    agent = startAgentProcess(server, node, '127.0.0.1');
    await eventually(async () => (await server.client.get<Node & KubeObject>(nodes, undefined, node)).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      120_000, 'the agent\'s Node Ready');
    await runSleepingPods(server.client, node, ['shell']);
    await server.client.create(resourceFor('', 'pods')!, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' },
      spec: { nodeName: node, containers: [{ name: 'web', image: 'nginx:latest', imagePullPolicy: 'Never' }] },
    } as KubeObject);
    await eventually(async () => (await server.client.get<KubeObject & { status?: { phase?: string } }>(resourceFor('', 'pods')!, 'default', 'web')).status?.phase === 'Running',
      60_000, 'web Running');
  });

  after(async () => {
    await agent?.kill('SIGKILL');
    removeContainersOf([node]);
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const v of versions) {
    test(`kubectl ${v}: stdout and stderr apart, and the exit code`, async () => {
      const ok = await kubectl(v, ['exec', 'shell', '--', 'sh', '-c', 'echo out; echo err >&2']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'out\n');
      assert.match(ok.stderr, /^err$/m);
      const three = await kubectl(v, ['exec', 'shell', '--', 'sh', '-c', 'exit 3']);
      assert.equal(three.code, 3, three.stderr);
      assert.match(three.stderr, /command terminated with exit code 3/);
    });

    test(`kubectl ${v}: -i sends stdin to its end; without -i the command reads none`, async () => {
      const counted = await kubectl(v, ['exec', '-i', 'shell', '--', 'sh', '-c', 'wc -c'], { input: 'hello lab\n' });
      assert.equal(counted.code, 0, counted.stderr);
      assert.equal(counted.stdout.trim(), '10');
      const none = await kubectl(v, ['exec', 'shell', '--', 'sh', '-c', 'wc -c'], { input: 'ignored\n' });
      assert.equal(none.code, 0, none.stderr);
      assert.equal(none.stdout.trim(), '0');
    });
  }

  for (const v of ['1.27', '1.33']) {
    test(`kubectl ${v} cp: a 10 MB file up and down again, checksums equal`, async () => {
      const data = randomBytes(10 * 1024 * 1024);
      writeFileSync(join(dir, `up-${v}.bin`), data);
      const up = await kubectl(v, ['cp', join(dir, `up-${v}.bin`), `shell:/tmp/up-${v}.bin`]);
      assert.equal(up.code, 0, up.stderr);
      const inPod = await kubectl(v, ['exec', 'shell', '--', 'sha256sum', `/tmp/up-${v}.bin`]);
      assert.equal(inPod.stdout.split(/\s+/)[0], sha256(data), 'the file in the pod');
      const down = await kubectl(v, ['cp', `shell:/tmp/up-${v}.bin`, join(dir, `down-${v}.bin`)]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(sha256(readFileSync(join(dir, `down-${v}.bin`))), sha256(data), 'the file copied back');
    });
  }

  for (const v of ['1.27', '1.33']) {
    test(`kubectl ${v} run -i --rm: attach sends input to the container's own process, prints its output, then deletes the pod`, async () => {
      const run = await kubectl(v, ['run', `greeter-${v.replace('.', '-')}`, '-i', '--rm', '--restart=Never', '--image=busybox:latest', '--image-pull-policy=Never',
        `--overrides=${JSON.stringify({ apiVersion: 'v1', spec: { nodeName: node } })}`, '--', 'sh', '-c', 'read x; echo "got $x"'], { input: 'lab\n' });
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /got lab/);
      assert.match(run.stdout, new RegExp(`pod "greeter-${v.replace('.', '-')}" deleted`));
    });
  }

  test('the protocol itself: v4 offered alone is chosen; a terminal merges stderr, ends lines CR LF and takes a resize', async () => {
    const q = new URLSearchParams([['command', 'sh'], ['command', '-c'], ['command', 'tty; while read line; do stty size; done'],
      ['stdin', 'true'], ['stdout', 'true'], ['stderr', 'true'], ['tty', 'true']]);
    const ws = new WebSocket(`${server.url.replace(/^https/, 'wss')}/api/v1/namespaces/default/pods/shell/exec?${q}`, ['v4.channel.k8s.io'],
      { ca: server.caPem, headers: { Authorization: `Bearer ${server.adminToken}` } });
    const received: Record<number, string> = { 1: '', 2: '', 3: '' };
    ws.on('message', (data: Buffer) => { received[data[0]!] = (received[data[0]!] ?? '') + data.subarray(1).toString(); });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    assert.equal(ws.protocol, 'v4.channel.k8s.io');
    await eventually(() => /\/dev\/pts\/\d+\r\n/.test(received[1]!), 30_000, 'tty to print the terminal');
    ws.send(Buffer.concat([Buffer.from([4]), Buffer.from(JSON.stringify({ Width: 91, Height: 37 }))]));
    // The resize is applied by the engine beside the input stream: ask until the terminal says so.
    await eventually(async () => {
      ws.send(Buffer.from([0, 0x0d]));
      await new Promise((r) => setTimeout(r, 200));
      return received[1]!.includes('37 91\r\n');
    }, 30_000, 'stty to report the new size');
    assert.equal(received[2], '', 'with a terminal, stderr is part of stdout');
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.send(Buffer.from([0, 0x04])); // ^D: end of input on a terminal
    await closed;
    assert.deepEqual(JSON.parse(received[3]!), { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success' });
  });

  test('attach to a terminal: a shell with stdin and tty answers, exits, and its log reads as the screen did', async () => {
    await server.client.create(resourceFor('', 'pods')!, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'term' },
      spec: { nodeName: node, restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:latest', imagePullPolicy: 'Never', command: ['sh'], stdin: true, tty: true }] },
    } as KubeObject);
    await eventually(async () => (await server.client.get<KubeObject & { status?: { phase?: string } }>(resourceFor('', 'pods')!, 'default', 'term')).status?.phase === 'Running',
      60_000, 'term Running');
    const q = new URLSearchParams([['container', 'main'], ['stdin', 'true'], ['stdout', 'true'], ['tty', 'true']]);
    const ws = new WebSocket(`${server.url.replace(/^https/, 'wss')}/api/v1/namespaces/default/pods/term/attach?${q}`, ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
      { ca: server.caPem, headers: { Authorization: `Bearer ${server.adminToken}` } });
    let screen = '';
    let status = '';
    ws.on('message', (data: Buffer) => { if (data[0] === 1) screen += data.subarray(1).toString(); if (data[0] === 3) status += data.subarray(1).toString(); });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    assert.equal(ws.protocol, 'v5.channel.k8s.io');
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('echo hi-$((1+2))\r')]));
    await eventually(() => screen.includes('hi-3\r\n'), 30_000, 'the shell to answer');
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('exit\r')]));
    await closed;
    assert.equal(JSON.parse(status).status, 'Success');
    const logs = await kubectl('1.33', ['logs', 'term']);
    assert.match(logs.stdout, /hi-3\r\n/, 'a terminal\'s log is its raw output');
  });

  test('the official JavaScript client: output apart, and a non-zero exit as a Status with its code', async () => {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    const collect = () => { const s = new PassThrough(); let text = ''; s.on('data', (d: Buffer) => { text += d.toString(); }); return { s, text: () => text }; };
    const [out, err] = [collect(), collect()];
    const status = await new Promise<{ status?: string; details?: { causes?: { reason?: string; message?: string }[] } }>((resolve, reject) => {
      new k8s.Exec(kc).exec('default', 'shell', 'main', ['sh', '-c', 'echo out; echo err >&2; exit 5'], out.s, err.s, null, false,
        (s) => resolve(s as never)).catch(reject);
    });
    assert.equal(status.status, 'Failure');
    assert.deepEqual(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message, '5');
    await eventually(() => out.text() === 'out\n' && err.text() === 'err\n', 10_000, 'both streams');
  });

  test('the official Python client: exec with its WebSocket stream, output apart and the exit code', async () => {
    const script = new URL('../clients/python_client.py', import.meta.url).pathname;
    const run = await runCommand('/usr/bin/python3', [script, server.kubeconfigPath, 'exec', 'shell'], { timeoutMs: 90_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').pop()!), { stdout: 'out\n', stderr: 'err\n', code: 4 });
  });

  for (const v of ['1.27', '1.33']) {
    test(`kubectl ${v} port-forward: three requests at once through a forwarded port, and a refused port said so`, async () => {
      // -v=8: the log says which transport was used.
      const forward = startCommand(kubectlBinary(v), ['port-forward', '-v=8', 'pod/web', ':80', ':81'], { KUBECONFIG: server.kubeconfigPath });
      try {
        const ports = await eventually(() => {
          const found = [...forward.output().matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
          return found.length === 2 ? new Map(found.map(([local, remote]) => [remote, local])) : undefined;
        }, 60_000, 'kubectl to listen').catch((err: Error) => { throw new Error(`${err.message}\n${forward.output()}`); });
        const pages = await Promise.all([1, 2, 3].map(() => fetch(`http://127.0.0.1:${ports.get(80)}/`).then(async (r) => [r.status, await r.text()] as const)))
          .catch(async (err: Error) => { await new Promise((r) => setTimeout(r, 500)); throw new Error(`${err.message}: ${(err.cause as Error | undefined)?.message}\n${forward.output()}`); });
        for (const [status, body] of pages) {
          assert.equal(status, 200);
          assert.match(body, /nginx/i);
        }
        // Nothing listens on 81 in the pod: the request fails, and kubectl prints the agent's reason
        // (and, as kubectl does since 1.23 after a failed stream, ends the forward).
        await fetch(`http://127.0.0.1:${ports.get(81)}/`).then(() => undefined, () => undefined);
        await eventually(() => /error forwarding port 81/.test(forward.output()), 30_000, 'the refusal').catch((err: Error) => { throw new Error(`${err.message}\n${forward.output()}`); });
        const out = forward.output();
        assert.ok(out.includes('error forwarding port 81'), out);
        // 1.27 upgrades to SPDY itself; 1.33 tunnels SPDY in a WebSocket, with no fallback to plain SPDY.
        if (v === '1.27') assert.match(out, /Upgrade: SPDY\/3\.1/);
        else { assert.match(out, /negotiated protocol: portforward\.k8s\.io/); assert.doesNotMatch(out, /fallback to secondary dialer/); }
      } finally {
        await forward.stop();
      }
    });
  }

  test('port-forward reaches a pod on the board\'s own network (hostNetwork) through localhost', async () => {
    // busybox httpd on the host's network, on a port nothing else here uses: the agent dials
    // 127.0.0.1, as the kubelet dials localhost inside such a pod's (the host's) namespace.
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    await server.client.create(resourceFor('', 'pods')!, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hostweb' },
      spec: {
        nodeName: node, hostNetwork: true,
        containers: [{ name: 'httpd', image: 'busybox:latest', imagePullPolicy: 'Never',
          command: ['sh', '-c', `mkdir -p /www && echo host-network-page > /www/index.html && exec httpd -f -p 127.0.0.1:${port} -h /www`] }],
      },
    } as KubeObject);
    await eventually(async () => (await server.client.get<KubeObject & { status?: { phase?: string } }>(resourceFor('', 'pods')!, 'default', 'hostweb')).status?.phase === 'Running',
      60_000, 'hostweb Running');
    // The agent runs on this machine, so the pod's network is this machine's: wait until httpd
    // answers on loopback, because kubectl ends a forward after one failed connection.
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status === 200, 30_000, 'httpd to listen');
    const forward = startCommand(kubectlBinary('1.33'), ['port-forward', 'pod/hostweb', `:${port}`], { KUBECONFIG: server.kubeconfigPath });
    try {
      const local = await eventually(() => /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(forward.output())?.[1], 60_000, 'kubectl to listen')
        .catch((err: Error) => { throw new Error(`${err.message}\n${forward.output()}`); });
      const res = await fetch(`http://127.0.0.1:${local}/`).catch((err: Error) => { throw new Error(`${err.message}\n${forward.output()}`); });
      assert.equal(res.status, 200);
      const body = await res.text();
      assert.equal(body, 'host-network-page\n');
    } finally {
      await forward.stop();
      await server.client.delete(resourceFor('', 'pods')!, 'default', 'hostweb', { gracePeriodSeconds: 0 }).catch(() => undefined);
    }
  });

  test('the official clients\' own port-forward (WebSocket channels): JavaScript and Python reach nginx in the pod', async () => {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    const forward = new k8s.PortForward(kc);
    const local = createServer((socket) => { void forward.portForward('default', 'web', [80], socket, null, socket); });
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    try {
      const port = (local.address() as AddressInfo).port;
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /nginx/i);
    } finally {
      local.close();
    }
    const script = new URL('../clients/python_client.py', import.meta.url).pathname;
    const run = await runCommand('/usr/bin/python3', [script, server.kubeconfigPath, 'portforward', 'web'], { timeoutMs: 90_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').pop()!), { status: 'HTTP/1.1 200 OK', nginx: true, error: null });
  });

  test('refusals are errors kubectl prints: no such pod, a viewer', async () => {
    const missing = await kubectl('1.33', ['exec', 'nope', '--', 'true']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /pods "nope" not found/);
    const viewer = await kubectl('1.33', ['--token', server.viewerToken, 'exec', 'shell', '--', 'true']);
    assert.equal(viewer.code, 1);
    assert.match(viewer.stderr, /forbidden/i);

  });
});
