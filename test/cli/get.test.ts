// labctl as a person runs it, against a running control plane with hollow nodes: get in every
// format, watch, describe with events, top, and the errors and exit codes.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { eventAbout, events, podObject, pods, runningPod } from './fixtures.ts';
import { labctl, labctlBin, startCommand, tableRows } from './run.ts';
import { parse } from 'yaml';

describe('labctl get, describe and top', { timeout: 1_800_000 }, () => {
  let server: TestServer;
  let hollow: HollowNode[];
  let kc: string;
  before(async () => {
    server = await startTestServer();
    kc = server.kubeconfigPath;
    hollow = await startHollowNodes(server, 2, { name: 'pi', arch: 'arm64' });
    await runningPod(server.client, 'default', 'web-1', 'pi-1', { app: 'web' });
    await runningPod(server.client, 'default', 'web-2', 'pi-2', { app: 'web' });
    await server.client.create(pods, 'kube-system', podObject('sys-1'));
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  test('get pods prints kubectl\'s columns with READY, STATUS and the node in -o wide', async () => {
    const plain = await labctl(kc, ['get', 'pods']);
    assert.equal(plain.code, 0, plain.stderr);
    const rows = tableRows(plain.stdout);
    assert.deepEqual(rows[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    assert.deepEqual(rows.slice(1).map((r) => r.slice(0, 4)), [['web-1', '1/1', 'Running', '0'], ['web-2', '1/1', 'Running', '0']]);

    const wide = await labctl(kc, ['get', 'po', '-o', 'wide']);
    const wideRows = tableRows(wide.stdout);
    assert.deepEqual(wideRows[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    assert.equal(wideRows[1]![6], 'pi-1');
    assert.match(wideRows[1]![5]!, /^10\.0\.0\.\d+$/);
  });

  test('-A adds a NAMESPACE column, -n picks a namespace, -l selects by label', async () => {
    const all = tableRows((await labctl(kc, ['get', 'pods', '-A'])).stdout);
    assert.equal(all[0]![0], 'NAMESPACE');
    assert.deepEqual(all.slice(1).map((r) => `${r[0]}/${r[1]}`).sort(), ['default/web-1', 'default/web-2', 'kube-system/sys-1']);
    const sys = tableRows((await labctl(kc, ['-n', 'kube-system', 'get', 'pods'])).stdout);
    assert.deepEqual(sys.slice(1).map((r) => r[0]), ['sys-1']);
    assert.match(sys[1]![1]!, /^[01]\/1$/);
    await server.client.patch(pods, 'default', 'web-2', { metadata: { labels: { app: 'web', tier: 'canary' } } });
    const canary = tableRows((await labctl(kc, ['get', 'pods', '-l', 'tier=canary'])).stdout);
    assert.deepEqual(canary.slice(1).map((r) => r[0]), ['web-2']);
    const none = await labctl(kc, ['get', 'pods', '-l', 'tier=nothing']);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /No resources found in default namespace/);
  });

  test('-o yaml, json and name print the objects', async () => {
    const yaml = await labctl(kc, ['get', 'pod', 'web-1', '-o', 'yaml']);
    const obj = parse(yaml.stdout) as { kind: string; metadata: { name: string }; spec: { nodeName: string } };
    assert.equal(obj.kind, 'Pod');
    assert.equal(obj.spec.nodeName, 'pi-1');
    const json = JSON.parse((await labctl(kc, ['get', 'pods', '-o', 'json'])).stdout) as { kind: string; items: { metadata: { name: string } }[] };
    assert.equal(json.kind, 'List');
    assert.deepEqual(json.items.map((i) => i.metadata.name), ['web-1', 'web-2']);
    assert.equal((await labctl(kc, ['get', 'no', '-o', 'name'])).stdout, 'node/pi-1\nnode/pi-2\n');
  });

  test('nodes, namespaces and several types at once use their kubectl columns', async () => {
    const nodeRows = tableRows((await labctl(kc, ['get', 'nodes'])).stdout);
    assert.deepEqual(nodeRows[0], ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    assert.deepEqual(nodeRows[1]!.slice(0, 3), ['pi-1', 'Ready', '<none>']);
    const nsRows = tableRows((await labctl(kc, ['get', 'ns'])).stdout);
    assert.deepEqual(nsRows[0], ['NAME', 'STATUS', 'AGE']);
    assert.ok(nsRows.some((r) => r[0] === 'kube-system' && r[1] === 'Active'));
    const both = await labctl(kc, ['get', 'po,no']);
    assert.match(both.stdout, /^pod\/web-1 /m);
    assert.match(both.stdout, /^node\/pi-1 /m);
  });

  test('get -w prints a row for each change', async () => {
    const watch = startCommand(process.execPath, [labctlBin, '--kubeconfig', kc, 'get', 'pods', '-w']);
    try {
      await eventually(() => watch.output().includes('web-2'), 60_000, 'the initial table');
      await server.client.create(pods, 'default', podObject('late'));
      await eventually(() => /^late\s+0\/1\s+Pending/m.test(watch.output()), 60_000, 'a row for the new pod');
      await server.client.delete(pods, 'default', 'late');
      await eventually(() => watch.output().split('\n').filter((l) => l.startsWith('late ')).length >= 2, 60_000, 'a row for the deletion');
      assert.equal(watch.output().split('\n').filter((l) => l.startsWith('NAME')).length, 1, 'one header');
    } finally {
      await watch.stop();
    }
  });

  test('describe shows the object and the events about it', async () => {
    const pod = await server.client.get(pods, 'default', 'web-1');
    await server.client.create(events, 'default', eventAbout(pod, 'Pulled', 'Container image "nginx:1.25" already present on machine'));
    const out = await labctl(kc, ['describe', 'pod', 'web-1']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^Name:\s+web-1$/m);
    assert.match(out.stdout, /^Node:\s+pi-1$/m);
    assert.match(out.stdout, /^Status:\s+Running$/m);
    assert.match(out.stdout, /Image:\s+nginx:1\.25/);
    assert.match(out.stdout, /Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message\n.*\n\s+Normal\s+Pulled\s+\S+\s+labkube-test\s+Container image "nginx:1.25" already present/);
    const node = await labctl(kc, ['describe', 'node', 'pi-2']);
    assert.match(node.stdout, /Events:\s+<none>/);
    assert.match(node.stdout, /architecture:\s+arm64/);
  });

  test('errors: one line, the server\'s message, and a non-zero exit code', async () => {
    const missing = await labctl(kc, ['get', 'pod', 'nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'Error from server (NotFound): pods "nope" not found\n');
    const badType = await labctl(kc, ['get', 'widgets']);
    assert.equal(badType.code, 1);
    assert.match(badType.stderr, /doesn't have a resource type "widgets"/);
    const dead = join(server.dataDir, 'dead-kubeconfig');
    writeFileSync(dead, (await import('node:fs')).readFileSync(kc, 'utf8').replace(/server: .*/, 'server: https://127.0.0.1:1'));
    const down = await labctl(dead, ['get', 'pods']);
    assert.equal(down.code, 1);
    assert.equal(down.stderr, 'error: cannot reach the API server at https://127.0.0.1:1: ECONNREFUSED\n');
    const env = await labctl(join(server.dataDir, 'no-such-file'), ['get', 'pods']);
    assert.equal(env.code, 1);
    assert.match(env.stderr, /^error: no kubeconfig at /);
  });
});
