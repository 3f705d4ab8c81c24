// labctl's writing commands as a subprocess against a running control plane: create, apply
// (twice: the second run changes nothing), scale, rollout, delete, cordon, drain, logs.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isConflict } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { deployments, nodes, pods, replicaSets, runningPod } from './fixtures.ts';
import { labctl, labctlBin, startCommand } from './run.ts';

const manifests = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: { app: api }
spec:
  replicas: 2
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec:
      containers:
      - name: api
        image: registry.lab/api:1.0
        ports: [{ containerPort: 8080 }]
        env: [{ name: MODE, value: lab }, { name: DEBUG, value: "0" }]
---
apiVersion: v1
kind: Service
metadata: { name: api }
spec:
  selector: { app: api }
  ports: [{ port: 80, targetPort: 8080 }]
`;

type Dep = KubeObject & { spec: { replicas: number; paused?: boolean; template: { spec: { containers: { image: string; env?: { name: string }[]; imagePullPolicy?: string }[] } } } };

describe('labctl create, apply, scale, rollout, delete and node commands', { timeout: 1_800_000 }, () => {
  let server: TestServer;
  let hollow: HollowNode[];
  let kc: string;
  let dir: string;
  before(async () => {
    server = await startTestServer();
    kc = server.kubeconfigPath;
    dir = join(server.dataDir, 'manifests');
    mkdirSync(dir);
    hollow = await startHollowNodes(server, 1, { name: 'bench' });
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  test('create deployment builds kubectl\'s deployment', async () => {
    const out = await labctl(kc, ['create', 'deployment', 'web', '--image=nginx:1.25', '--replicas=3', '--port=80']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, 'deployment.apps/web created\n');
    const d = await server.client.get<Dep>(deployments, 'default', 'web');
    assert.equal(d.spec.replicas, 3);
    assert.deepEqual(d.metadata.labels, { app: 'web' });
    assert.equal(d.spec.template.spec.containers[0]!.image, 'nginx:1.25');
    const again = await labctl(kc, ['create', 'deployment', 'web', '--image=nginx']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^Error from server \(AlreadyExists\): .*"web" already exists/);
  });

  test('apply -f DIR creates, a second run is unchanged, a changed file is a patch that keeps others\' fields', async () => {
    writeFileSync(join(dir, 'api.yaml'), manifests);
    const first = await labctl(kc, ['apply', '-f', dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'deployment.apps/api created\nservice/api created\n');
    const created = await server.client.get<Dep>(deployments, 'default', 'api');
    const second = await labctl(kc, ['apply', '-f', join(dir, 'api.yaml')]);
    assert.equal(second.stdout, 'deployment.apps/api unchanged\nservice/api unchanged\n');
    assert.equal((await server.client.get(deployments, 'default', 'api')).metadata.generation, created.metadata.generation);

    // Someone else scales it and labels it; the new file changes the image and drops DEBUG.
    await server.client.patch(deployments, 'default', 'api', { metadata: { labels: { app: 'api', owner: 'lab-3' } } });
    const changed = manifests.replace('api:1.0', 'api:1.1').replace(', { name: DEBUG, value: "0" }', '');
    const third = await labctl(kc, ['apply', '-f', '-'], { input: changed });
    assert.equal(third.stdout, 'deployment.apps/api configured\nservice/api unchanged\n');
    const d = await server.client.get<Dep>(deployments, 'default', 'api');
    const c = d.spec.template.spec.containers[0]!;
    assert.equal(c.image, 'registry.lab/api:1.1');
    assert.deepEqual(c.env?.map((e) => e.name), ['MODE']);
    assert.equal(c.imagePullPolicy, 'IfNotPresent', 'server defaults survive');
    assert.equal(d.metadata.labels?.owner, 'lab-3', 'fields the file never had survive');
    assert.equal(d.metadata.generation, (created.metadata.generation ?? 1) + 1);
  });

  test('scale sets replicas through the scale subresource', async () => {
    const out = await labctl(kc, ['scale', 'deployment/web', '--replicas=5']);
    assert.equal(out.stdout, 'deployment.apps/web scaled\n');
    assert.equal((await server.client.get<Dep>(deployments, 'default', 'web')).spec.replicas, 5);
    const bad = await labctl(kc, ['scale', 'deploy', 'nope', '--replicas=1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /NotFound/);
  });

  test('rollout status waits with a progress line until the deployment is rolled out', async () => {
    await labctl(kc, ['create', 'deployment', 'roll', '--image=nginx', '--replicas=2']);
    const waiting = startCommand(process.execPath, [labctlBin, '--kubeconfig', kc, 'rollout', 'status', 'deployment/roll', '--timeout=240']);
    const exited = new Promise<number | null>((resolve) => waiting.child.once('close', (code) => resolve(code)));
    try {
      // Play the deployment controller: report one, then both replicas updated and available. The
      // real controller writes the status too: on a conflict, read it again and write ours over it.
      const setStatus = async (n: number) => {
        for (let attempt = 1; ; attempt++) {
          const fresh = await server.client.get(deployments, 'default', 'roll');
          try {
            return await server.client.update(deployments, { ...fresh, status: {
              observedGeneration: fresh.metadata.generation, replicas: 2, updatedReplicas: 2, readyReplicas: n, availableReplicas: n,
            } }, 'status');
          } catch (err) {
            if (!isConflict(err) || attempt >= 20) throw err;
          }
        }
      };
      // Each step waits for labctl to have printed what it saw, however slowly it started.
      await eventually(() => /Waiting for deployment|successfully rolled out/.test(waiting.output()), 120_000, 'the first progress line');
      await setStatus(1);
      await eventually(() => /1 of 2 updated replicas are available|successfully rolled out/.test(waiting.output()), 120_000, 'the progress line for 1 of 2');
      await setStatus(2);
      assert.equal(await exited, 0, waiting.output());
      assert.match(waiting.output(), /deployment "roll" successfully rolled out\n$/);
    } finally {
      await waiting.stop();
    }
  });

  test('rollout history, undo, restart, pause and resume', async () => {
    const d = await server.client.get<Dep>(deployments, 'default', 'web');
    const rs = (revision: number, image: string): KubeObject => ({
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name: `web-rev${revision}`, labels: { app: 'web', 'pod-template-hash': `h${revision}` },
        annotations: { 'deployment.kubernetes.io/revision': String(revision) },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid!, controller: true }] },
      spec: { replicas: 0, selector: { matchLabels: { app: 'web', 'pod-template-hash': `h${revision}` } },
        template: { metadata: { labels: { app: 'web', 'pod-template-hash': `h${revision}` } }, spec: { containers: [{ name: 'nginx', image, ports: [{ containerPort: 80 }] }] } } },
    });
    // Revisions far above what the deployment controller (if running) has written yet.
    await server.client.create(replicaSets, 'default', rs(101, 'nginx:1.24'));
    await server.client.create(replicaSets, 'default', rs(102, 'nginx:1.25'));
    const history = await labctl(kc, ['rollout', 'history', 'deployment/web']);
    assert.match(history.stdout, /^deployment\.apps\/web \nREVISION\s+CHANGE-CAUSE\n/);
    assert.match(history.stdout, /\n101\s+<none>\n102\s+<none>\n/);
    const undo = await labctl(kc, ['rollout', 'undo', 'deployment/web', '--to-revision=101']);
    assert.equal(undo.stdout, 'deployment.apps/web rolled back\n', undo.stderr);
    assert.equal((await server.client.get<Dep>(deployments, 'default', 'web')).spec.template.spec.containers[0]!.image, 'nginx:1.24');

    assert.equal((await labctl(kc, ['rollout', 'restart', 'deployment/web'])).stdout, 'deployment.apps/web restarted\n');
    const restarted = await server.client.get(deployments, 'default', 'web');
    assert.ok((restarted.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['kubectl.kubernetes.io/restartedAt']);
    assert.equal((await labctl(kc, ['rollout', 'pause', 'deployment/web'])).stdout, 'deployment.apps/web paused\n');
    assert.equal((await server.client.get<Dep>(deployments, 'default', 'web')).spec.paused, true);
    const again = await labctl(kc, ['rollout', 'pause', 'deployment/web']);
    assert.equal(again.code, 1);
    assert.equal((await labctl(kc, ['rollout', 'resume', 'deployment/web'])).stdout, 'deployment.apps/web resumed\n');
    assert.ok(!(await server.client.get<Dep>(deployments, 'default', 'web')).spec.paused);
  });

  test('cordon, uncordon, and drain (refusing unmanaged pods without --force)', async () => {
    assert.equal((await labctl(kc, ['cordon', 'bench-1'])).stdout, 'node/bench-1 cordoned\n');
    assert.match((await labctl(kc, ['get', 'nodes'])).stdout, /bench-1\s+Ready,SchedulingDisabled/);
    assert.equal((await labctl(kc, ['uncordon', 'bench-1'])).stdout, 'node/bench-1 uncordoned\n');
    assert.equal((await server.client.get(nodes, undefined, 'bench-1')).spec && (await server.client.get(nodes, undefined, 'bench-1') as { spec: { unschedulable?: boolean } }).spec.unschedulable, undefined);

    await runningPod(server.client, 'default', 'solo', 'bench-1');
    const refused = await labctl(kc, ['drain', 'bench-1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /cannot delete Pods that declare no controller.*default\/solo/);
    const drained = await labctl(kc, ['drain', 'bench-1', '--force', '--ignore-daemonsets', '--timeout=120']);
    assert.equal(drained.code, 0, drained.stderr);
    // Pods the controllers placed on the node are evicted too; solo is the one we know of.
    assert.match(drained.stdout, /^evicting pod default\/solo$/m);
    assert.match(drained.stdout, /^pod\/solo evicted\nnode\/bench-1 drained\n$|^pod\/solo evicted$[\s\S]*node\/bench-1 drained\n$/m);
    await eventually(async () => (await server.client.list(pods, 'default', { fieldSelector: 'metadata.name=solo' })).items.length === 0, 60_000, 'solo gone');
    assert.equal((await server.client.get(nodes, undefined, 'bench-1') as { spec: { unschedulable?: boolean } }).spec.unschedulable, true);
  });

  test('delete by name, by label, by file, and with --cascade=orphan', async () => {
    const byFile = await labctl(kc, ['delete', '-f', join(dir, 'api.yaml')]);
    assert.equal(byFile.stdout, 'deployment.apps "api" deleted\nservice "api" deleted\n', byFile.stderr);
    await labctl(kc, ['create', 'deployment', 'keep', '--image=nginx']);
    const orphan = await labctl(kc, ['delete', 'deployment', 'keep', '--cascade=orphan']);
    assert.equal(orphan.stdout, 'deployment.apps "keep" deleted\n');
    const d = await server.client.get(deployments, 'default', 'keep').catch(() => undefined);
    // Either the garbage collector already removed it, or it waits on the orphan finalizer.
    assert.ok(!d || (d.metadata.deletionTimestamp && d.metadata.finalizers?.includes('orphan')));
    const byLabel = await labctl(kc, ['delete', 'deploy', '-l', 'app=roll']);
    assert.equal(byLabel.stdout, 'deployment.apps "roll" deleted\n');
    const missing = await labctl(kc, ['delete', 'deploy', 'nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'Error from server (NotFound): deployments.apps "nope" not found\n');
  });

  test('logs prints the server\'s answer, or its error on one line', async () => {
    await runningPod(server.client, 'default', 'talker', 'bench-1').catch(() => undefined);
    const out = await labctl(kc, ['logs', 'talker', '--tail=5']);
    // Hollow nodes run no container: whatever the server answers, labctl reports it plainly.
    if (out.code === 0) assert.equal(out.stderr, '');
    else assert.match(out.stderr, /^Error from server \(\w+\): .+\n$/);
    const missing = await labctl(kc, ['logs', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error from server \(NotFound\)/);
  });
});
