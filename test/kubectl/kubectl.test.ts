// The real kubectl, unmodified, against labkube with the kubeconfig `labkube server` wrote:
// every command the README promises, checking kubectl's output and the state it leaves.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { deployments, eventAbout, events, nodes, pods, replicaSets, runningPod } from '../cli/fixtures.ts';
import { runCommand, startCommand, tableRows } from '../cli/run.ts';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';

const services = resourceFor('', 'services')!;
const endpoints = resourceFor('', 'endpoints')!;

// The nginx Deployment from kubernetes.io's "Run a Stateless Application Using a Deployment".
const tutorialDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
spec:
  selector:
    matchLabels:
      app: nginx
  replicas: 2 # tells deployment to run 2 pods matching the template
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
`;

type Dep = KubeObject & { spec: { replicas: number; template: { spec: { containers: { name: string; image: string; ports?: { containerPort: number }[]; imagePullPolicy?: string }[] } } } };

describe('stock kubectl against labkube', { timeout: 90_000 }, () => {
  let server: TestServer;
  let hollow: HollowNode[];
  let dir: string;
  const kubectl = (args: string[], input?: string) =>
    runCommand('kubectl', args, { env: { KUBECONFIG: server.kubeconfigPath }, timeoutMs: 40_000, ...(input !== undefined && { input }) });

  before(async () => {
    server = await startTestServer();
    dir = server.dataDir;
    hollow = await startHollowNodes(server, 2, { name: 'rack' });
    await runningPod(server.client, 'default', 'probe', 'rack-1', { role: 'probe' });
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  test('kubectl version and get pods use the written kubeconfig as it is', async () => {
    const version = await kubectl(['version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /Server Version: v1\.31/);
    const out = await kubectl(['get', 'pods']);
    assert.equal(out.code, 0, out.stderr);
    const rows = tableRows(out.stdout);
    assert.deepEqual(rows[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    assert.deepEqual(rows.find((r) => r[0] === 'probe')!.slice(0, 4), ['probe', '1/1', 'Running', '0']);
    const wide = tableRows((await kubectl(['get', 'pods', '-o', 'wide', '-l', 'role=probe'])).stdout);
    assert.deepEqual(wide[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    assert.equal(wide.length, 2);
    assert.equal(wide[1]![6], 'rack-1');
  });

  test('kubectl get shows kubectl\'s columns for every kind, with -A and -o yaml', async () => {
    await server.client.create(services, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front' }, spec: { clusterIP: '10.43.0.20', ports: [{ port: 80 }] } });
    await server.client.create(endpoints, 'default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'front' }, subsets: [{ addresses: [{ ip: '10.0.0.7' }], ports: [{ port: 80 }] }] });
    const probe = await server.client.get(pods, 'default', 'probe');
    await server.client.create(events, 'default', eventAbout(probe, 'Started', 'Started container main'));
    const headers = async (args: string[]) => tableRows((await kubectl(['get', ...args])).stdout);
    assert.deepEqual((await headers(['nodes']))[0], ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    assert.deepEqual((await headers(['nodes', '-o', 'wide']))[0], ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', 'INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME']);
    const svc = await headers(['svc']);
    assert.deepEqual(svc[0], ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
    assert.deepEqual(svc.find((r) => r[0] === 'front')!.slice(0, 5), ['front', 'ClusterIP', '10.43.0.20', '<none>', '80/TCP']);
    assert.deepEqual((await headers(['ep', 'front']))[1]!.slice(0, 2), ['front', '10.0.0.7:80']);
    const ev = await headers(['events']);
    assert.deepEqual(ev[0], ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    assert.ok(ev.some((r) => r[2] === 'Started' && r[3] === 'pod/probe' && r[4] === 'Started container main'));
    assert.deepEqual((await headers(['ns']))[0], ['NAME', 'STATUS', 'AGE']);
    assert.deepEqual((await headers(['rs']))[0] ?? ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'], ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE']);
    const all = await headers(['pods', '-A']);
    assert.deepEqual(all[0]!.slice(0, 2), ['NAMESPACE', 'NAME']);
    const yaml = parse((await kubectl(['get', 'pod', 'probe', '-o', 'yaml'])).stdout) as { kind: string; spec: { nodeName: string } };
    assert.equal(yaml.kind, 'Pod');
    assert.equal(yaml.spec.nodeName, 'rack-1');
    assert.equal((await kubectl(['get', 'no', '-o', 'name'])).stdout, 'node/rack-1\nnode/rack-2\n');
  });

  test('kubectl get -w prints rows as they change', async () => {
    const watch = startCommand('kubectl', ['get', 'pods', '-w', '-l', 'role=watched'], { KUBECONFIG: server.kubeconfigPath });
    try {
      // An empty list prints nothing in watch mode; give kubectl time to list and start watching.
      await new Promise((r) => setTimeout(r, 3000));
      await server.client.create(pods, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'seen', labels: { role: 'watched' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
      await eventually(() => /^seen\s+0\/1\s+\w+\s+0\s+\S+/m.test(watch.output()), 20_000, 'a row for the new pod').catch((err: Error) => { throw new Error(`${err.message}; kubectl printed: ${watch.output()}`); });
    } finally {
      await watch.stop();
    }
  });

  test('kubectl create deployment, scale, describe', async () => {
    const created = await kubectl(['create', 'deployment', 'web', '--image=nginx', '--replicas=3']);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stdout, 'deployment.apps/web created\n');
    assert.equal((await server.client.get<Dep>(deployments, 'default', 'web')).spec.replicas, 3);
    const deploy = tableRows((await kubectl(['get', 'deploy', 'web', '-o', 'wide'])).stdout);
    assert.deepEqual(deploy[0], ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
    assert.deepEqual([deploy[1]![0], deploy[1]![5], deploy[1]![6], deploy[1]![7]], ['web', 'nginx', 'nginx', 'app=web']);
    assert.match(deploy[1]![1]!, /^\d\/3$/);

    const scaled = await kubectl(['scale', 'deployment', 'web', '--replicas=1']);
    assert.equal(scaled.stdout, 'deployment.apps/web scaled\n', scaled.stderr);
    assert.equal((await server.client.get<Dep>(deployments, 'default', 'web')).spec.replicas, 1);

    const web = await server.client.get(deployments, 'default', 'web');
    await server.client.create(events, 'default', eventAbout(web, 'ScalingReplicaSet', 'Scaled down replica set web-test to 1'));
    const described = await kubectl(['describe', 'deployment', 'web']);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Name:\s+web$/m);
    assert.match(described.stdout, /^Replicas:\s+1 desired/m);
    assert.match(described.stdout, /Image:\s+nginx/);
    assert.match(described.stdout, /Normal\s+ScalingReplicaSet\s+.*Scaled down replica set web-test to 1/);
    const pod = await kubectl(['describe', 'pod', 'probe']);
    assert.match(pod.stdout, /^Node:\s+rack-1\//m);
    assert.match(pod.stdout, /^Status:\s+Running$/m);
  });

  test('kubectl apply of the tutorial manifest creates it; a new image is a strategic merge rolling update', async () => {
    const file = join(dir, 'deployment.yaml');
    writeFileSync(file, tutorialDeployment);
    const first = await kubectl(['apply', '-f', file]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'deployment.apps/nginx-deployment created\n');
    const before = await server.client.get<Dep>(deployments, 'default', 'nginx-deployment');
    // Someone else adds a label; apply must keep it.
    await server.client.patch(deployments, 'default', 'nginx-deployment', { metadata: { labels: { team: 'lab' } } });
    const same = await kubectl(['apply', '-f', file]);
    assert.equal(same.stdout, 'deployment.apps/nginx-deployment unchanged\n', same.stderr);

    writeFileSync(file, tutorialDeployment.replace('nginx:1.14.2', 'nginx:1.16.1'));
    const second = await kubectl(['apply', '-f', file]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, 'deployment.apps/nginx-deployment configured\n');
    const after = await server.client.get<Dep>(deployments, 'default', 'nginx-deployment');
    const [c] = after.spec.template.spec.containers;
    assert.equal(c!.image, 'nginx:1.16.1');
    assert.equal(after.metadata.generation, (before.metadata.generation ?? 1) + 1);
    assert.deepEqual(c!.ports?.map((p) => p.containerPort), [80]);
    assert.equal(c!.imagePullPolicy, before.spec.template.spec.containers[0]!.imagePullPolicy);
    assert.equal(after.metadata.labels?.team, 'lab');
    assert.equal(after.spec.replicas, 2);
  });

  test('fields labkube ignores are warnings, not failures', async () => {
    const manifest = tutorialDeployment.replace('nginx-deployment', 'nginx-secure')
      .replace('      containers:', '      securityContext:\n        runAsNonRoot: true\n      containers:');
    const out = await kubectl(['apply', '-f', '-'], manifest);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, 'deployment.apps/nginx-secure created\n');
    assert.match(out.stderr, /^Warning: .*securityContext/m);
  });

  test('kubectl rollout status, history and undo', async () => {
    const d = await server.client.get<Dep>(deployments, 'default', 'web');
    const status = kubectl(['rollout', 'status', 'deployment/web', '--timeout=40s']);
    // Play the deployment controller's part (a running one gets there by itself).
    await new Promise((r) => setTimeout(r, 1500));
    await eventually(async () => {
      const fresh = await server.client.get<Dep>(deployments, 'default', 'web');
      const replicas = fresh.spec.replicas;
      await server.client.update(deployments, { ...fresh, status: { observedGeneration: fresh.metadata.generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas } } as KubeObject, 'status');
      return true;
    }, 10_000, 'a status write');
    const done = await status;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /deployment "web" successfully rolled out\n$/);

    const rs = (revision: number, image: string): KubeObject => ({
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name: `web-r${revision}`, labels: { app: 'web', 'pod-template-hash': `r${revision}` },
        annotations: { 'deployment.kubernetes.io/revision': String(revision) },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid!, controller: true, blockOwnerDeletion: true }] },
      spec: { replicas: 0, selector: { matchLabels: { app: 'web', 'pod-template-hash': `r${revision}` } },
        template: { metadata: { labels: { app: 'web', 'pod-template-hash': `r${revision}` } }, spec: { containers: [{ name: 'nginx', image }] } } },
    });
    await server.client.create(replicaSets, 'default', rs(201, 'nginx:1.24'));
    await server.client.create(replicaSets, 'default', rs(202, 'nginx:1.25'));
    const history = await kubectl(['rollout', 'history', 'deployment/web']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /^deployment\.apps\/web \nREVISION\s+CHANGE-CAUSE\n/);
    assert.match(history.stdout, /^201\s+<none>$/m);
    assert.match(history.stdout, /^202\s+<none>$/m);
    const undo = await kubectl(['rollout', 'undo', 'deployment/web', '--to-revision=201']);
    assert.equal(undo.code, 0, undo.stderr);
    assert.equal(undo.stdout, 'deployment.apps/web rolled back\n');
    assert.equal((await server.client.get<Dep>(deployments, 'default', 'web')).spec.template.spec.containers[0]!.image, 'nginx:1.24');
  });

  test('kubectl logs reports the server\'s answer', async () => {
    const missing = await kubectl(['logs', 'nope']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /pods "nope" not found/);
  });

  test('kubectl cordon and drain', async () => {
    const cordon = await kubectl(['cordon', 'rack-2']);
    assert.equal(cordon.stdout, 'node/rack-2 cordoned\n', cordon.stderr);
    assert.equal((await server.client.get(nodes, undefined, 'rack-2') as { spec: { unschedulable?: boolean } }).spec.unschedulable, true);
    assert.match((await kubectl(['get', 'node', 'rack-2'])).stdout, /rack-2\s+Ready,SchedulingDisabled/);
    assert.equal((await kubectl(['uncordon', 'rack-2'])).stdout, 'node/rack-2 uncordoned\n');

    const drain = await kubectl(['drain', 'rack-1', '--force', '--ignore-daemonsets', '--timeout=40s']);
    assert.equal(drain.code, 0, drain.stderr);
    assert.match(drain.stdout, /node\/rack-1 cordoned/);
    assert.match(drain.stdout, /pod\/probe (evicted|deleted)/);
    assert.match(drain.stdout, /node\/rack-1 drained\n$/);
    await eventually(async () => (await server.client.list(pods, 'default', { fieldSelector: 'metadata.name=probe' })).items.length === 0, 10_000, 'probe gone');
  });

  test('kubectl delete, including --cascade=orphan', async () => {
    const rsBefore = (await server.client.list(replicaSets, 'default')).items.filter((r) => r.metadata.name!.startsWith('web-r2'));
    assert.equal(rsBefore.length, 2);
    const orphan = await kubectl(['delete', 'deployment', 'web', '--cascade=orphan']);
    assert.equal(orphan.code, 0, orphan.stderr);
    assert.equal(orphan.stdout, 'deployment.apps "web" deleted\n');
    await eventually(async () => (await server.client.list(deployments, 'default', { fieldSelector: 'metadata.name=web' })).items.length === 0, 10_000, 'web gone');
    const left = (await server.client.list(replicaSets, 'default')).items.filter((r) => r.metadata.name!.startsWith('web-r2'));
    assert.equal(left.length, 2, 'the replica sets stay');
    assert.ok(left.every((r) => !r.metadata.ownerReferences?.some((o) => o.name === 'web')), 'and are no longer owned');

    await kubectl(['create', 'deployment', 'doomed', '--image=nginx']);
    const plain = await kubectl(['delete', 'deployment', 'doomed']);
    assert.equal(plain.stdout, 'deployment.apps "doomed" deleted\n', plain.stderr);
    assert.equal((await server.client.list(deployments, 'default', { fieldSelector: 'metadata.name=doomed' })).items.length, 0);
    const missing = await kubectl(['delete', 'deployment', 'nope']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Error from server \(NotFound\): deployments.apps "nope" not found/);
  });
});
