// `kubectl auth can-i` and `kubectl auth whoami`, as the admin and as a node: the answers are
// the authorizer's own decisions, so what can-i says is what the request then gets.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kubeconfig } from '../../control-plane/apiserver/bootstrap.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import { podObject, pods } from '../cli/fixtures.ts';
import { runCommand } from '../cli/run.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const kubectlPath = (minor: number) => `/usr/lib/google-cloud-sdk/bin/kubectl.1.${minor}`;

describe('kubectl auth can-i and whoami', { timeout: 120_000 }, () => {
  let server: TestServer;
  let nodeKubeconfig: string;
  const as = (config: string, args: string[], minor = 33) =>
    runCommand(kubectlPath(minor), args, { env: { KUBECONFIG: config }, timeoutMs: 60_000 });

  before(async () => {
    server = await startTestServer();
    const joiner = new KubeClient({ server: server.url, token: server.joinToken, ca: server.caPem });
    const { token } = await joiner.request<{ token: string }>('POST', '/labkube/v1/join', { nodeName: 'board-1' });
    joiner.close();
    nodeKubeconfig = join(server.dataDir, 'node-kubeconfig');
    writeFileSync(nodeKubeconfig, kubeconfig(server.url, token, server.caPem));
    for (const [name, node] of [['mine', 'board-1'], ['theirs', 'board-2']] as const) {
      await server.client.create(pods, 'default', podObject(name));
      await server.client.request('POST', `/api/v1/namespaces/default/pods/${name}/binding`,
        { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: node } });
    }
  });
  after(async () => { await server.stop(); });

  test('the admin may do anything, including reading logs and exec', async () => {
    for (const args of [['create', 'deployments'], ['delete', 'nodes'], ['get', 'pods', '--subresource=log'], ['create', 'pods/exec'], ['*', '*']]) {
      const out = await as(server.kubeconfigPath, ['auth', 'can-i', ...args]);
      assert.equal(out.stdout.trim(), 'yes', `admin can-i ${args.join(' ')}: ${out.stderr}`);
      assert.equal(out.code, 0);
    }
  });

  test('a node may read pods and write the status of its own pods only, as the authorizer decides', async () => {
    const can = async (args: string[]) => {
      const out = await as(nodeKubeconfig, ['auth', 'can-i', ...args]);
      assert.ok(out.code === 0 || out.code === 1, out.stderr);
      // "no - <the authorizer's reason>": the answer is the first word.
      return out.stdout.trim().split(' ')[0];
    };
    assert.equal(await can(['list', 'pods', '-A']), 'yes');
    assert.equal(await can(['update', 'pods/mine', '--subresource=status']), 'yes');
    assert.equal(await can(['update', 'pods/theirs', '--subresource=status']), 'no');
    assert.equal(await can(['create', 'deployments']), 'no');
    assert.equal(await can(['get', 'pods/mine', '--subresource=log']), 'no');
    assert.equal(await can(['get', 'secrets']), 'no');
    assert.equal(await can(['get', '/metrics']), 'no');
    assert.equal(await can(['get', '/version']), 'yes');
    // What can-i said is what the request then gets.
    const denied = await as(nodeKubeconfig, ['create', 'deployment', 'nope', '--image=nginx']);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /forbidden/);
  });

  test('the viewer token may read everything but secrets, and write nothing', async () => {
    const viewerKubeconfig = join(server.dataDir, 'viewer-kubeconfig');
    writeFileSync(viewerKubeconfig, kubeconfig(server.url, readFileSync(join(server.dataDir, 'viewer-token'), 'utf8').trim(), server.caPem));
    const can = async (args: string[]) => (await as(viewerKubeconfig, ['auth', 'can-i', ...args])).stdout.trim().split(' ')[0];
    assert.equal(await can(['list', 'pods', '-A']), 'yes');
    assert.equal(await can(['watch', 'nodes']), 'yes');
    assert.equal(await can(['get', 'pods/mine', '--subresource=log']), 'yes');
    assert.equal(await can(['get', 'secrets']), 'no');
    assert.equal(await can(['patch', 'nodes/board-1']), 'no');
    assert.equal(await can(['create', 'pods/theirs', '--subresource=eviction']), 'no');
    const who = await as(viewerKubeconfig, ['auth', 'whoami']);
    assert.match(who.stdout, /labkube:viewer/);
  });

  test('whoami names the caller with kubectl 1.27 (v1beta1) and 1.33 (v1)', async () => {
    for (const minor of [27, 33]) {
      const admin = await as(server.kubeconfigPath, ['auth', 'whoami', '-o', 'json'], minor);
      assert.equal(admin.code, 0, admin.stderr);
      const a = JSON.parse(admin.stdout) as { status: { userInfo: { username: string; groups: string[] } } };
      assert.equal(a.status.userInfo.username, 'admin');
      assert.ok(a.status.userInfo.groups.includes('system:masters'));
      const node = await as(nodeKubeconfig, ['auth', 'whoami'], minor);
      assert.equal(node.code, 0, node.stderr);
      assert.match(node.stdout, /system:node:board-1/);
      assert.match(node.stdout, /system:nodes/);
    }
  });

  test('a review without attributes is a 400 Status and the join token may not ask', async () => {
    await assert.rejects(server.client.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec: {} }), (err: Error & { code?: number }) => err.code === 400);
    const joiner = new KubeClient({ server: server.url, token: server.joinToken, ca: server.caPem });
    await assert.rejects(joiner.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { kind: 'SelfSubjectReview' }),
      (err: Error & { code?: number }) => err.code === 403);
    joiner.close();
  });
});
