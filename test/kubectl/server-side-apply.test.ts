// `kubectl apply --server-side` with stock kubectl 1.27 and 1.33 (and every minor between that
// is installed): applied twice, a conflict with another manager and --force-conflicts, a field
// dropped from the manifest, and an object moved from client-side to server-side apply.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { deployments } from '../cli/fixtures.ts';
import { runCommand } from '../cli/run.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const kubectlPath = (minor: number) => `/usr/lib/google-cloud-sdk/bin/kubectl.1.${minor}`;
const versions = [27, 30, 33].filter((v) => existsSync(kubectlPath(v)));

const manifest = (name: string, o: { replicas: number; image: string; labels?: string }) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: {app: ${name}${o.labels ? `, ${o.labels}` : ''}}
spec:
  replicas: ${o.replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: nginx
        image: ${o.image}
        ports:
        - containerPort: 80
`;

type Dep = KubeObject & { spec: { replicas: number; template: { spec: { containers: { image: string }[] } } } };
type Entry = { manager: string; operation: string; fieldsV1: { 'f:spec'?: Record<string, unknown> } };

describe('kubectl apply --server-side', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(async () => { await server.stop(); });

  test('kubectl 1.27 and 1.33 are installed', () => {
    assert.ok(versions.includes(27) && versions.includes(33), `found ${versions.join(', ')}`);
  });

  for (const minor of versions) {
    const kubectl = (args: string[]) => runCommand(kubectlPath(minor), args, { env: { KUBECONFIG: server.kubeconfigPath }, timeoutMs: 60_000 });
    const applyFile = (name: string, text: string, ...flags: string[]) => {
      const file = join(server.dataDir, `${name}-${flags.length}.yaml`);
      writeFileSync(file, text);
      return kubectl(['apply', '--server-side', ...flags, '-f', file]);
    };

    test(`kubectl 1.${minor}: applied twice, then a conflict with another manager, then --force-conflicts`, async () => {
      const name = `ssa-${minor}`;
      const first = await applyFile(name, manifest(name, { replicas: 2, image: 'nginx:1.25' }));
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, `deployment.apps/${name} serverside-applied\n`);
      const created = await server.client.get<Dep>(deployments, 'default', name);
      const again = await applyFile(name, manifest(name, { replicas: 2, image: 'nginx:1.25' }));
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, `deployment.apps/${name} serverside-applied\n`);
      const same = await server.client.get<Dep>(deployments, 'default', name);
      assert.equal(same.metadata.generation, created.metadata.generation, 'the second apply changed nothing');
      assert.equal(same.spec.replicas, 2);

      const conflict = await applyFile(name, manifest(name, { replicas: 5, image: 'nginx:1.25' }), '--field-manager=lab-ci');
      assert.equal(conflict.code, 1);
      assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.spec\.replicas/);
      assert.match(conflict.stderr, /--force-conflicts/);
      assert.equal((await server.client.get<Dep>(deployments, 'default', name)).spec.replicas, 2);

      const forced = await applyFile(name, manifest(name, { replicas: 5, image: 'nginx:1.25' }), '--field-manager=lab-ci', '--force-conflicts');
      assert.equal(forced.code, 0, forced.stderr);
      const after = await server.client.get<Dep>(deployments, 'default', name);
      assert.equal(after.spec.replicas, 5);
      const owners = (after.metadata.managedFields as Entry[]).filter((e) => e.fieldsV1['f:spec']?.['f:replicas']).map((e) => e.manager);
      assert.deepEqual(owners, ['lab-ci']);
      // The first manager applies again without replicas: no conflict, and lab-ci's 5 stays.
      const yielded = await applyFile(name, manifest(name, { replicas: 5, image: 'nginx:1.25' }).replace(/ {2}replicas: 5\n/, ''));
      assert.equal(yielded.code, 0, yielded.stderr);
      assert.equal((await server.client.get<Dep>(deployments, 'default', name)).spec.replicas, 5);
    });

    test(`kubectl 1.${minor}: a label dropped from the manifest is removed, and --show-managed-fields shows the managers`, async () => {
      const name = `prune-${minor}`;
      assert.equal((await applyFile(name, manifest(name, { replicas: 1, image: 'nginx:1.25', labels: 'tier: web' }))).code, 0);
      const res = await applyFile(name, manifest(name, { replicas: 1, image: 'nginx:1.25' }));
      assert.equal(res.code, 0, res.stderr);
      const dep = await server.client.get<Dep>(deployments, 'default', name);
      assert.deepEqual(dep.metadata.labels, { app: name });
      const shown = await kubectl(['get', 'deployment', name, '-o', 'yaml', '--show-managed-fields']);
      assert.match(shown.stdout, /manager: kubectl\n\s+operation: Apply/);
      const hidden = await kubectl(['get', 'deployment', name, '-o', 'yaml']);
      assert.doesNotMatch(hidden.stdout, /managedFields/);
    });

    test(`kubectl 1.${minor}: an object made with client-side apply moves to server-side apply`, async () => {
      const name = `csa-${minor}`;
      const file = join(server.dataDir, `${name}.yaml`);
      writeFileSync(file, manifest(name, { replicas: 1, image: 'nginx:1.25' }));
      const csa = await kubectl(['apply', '-f', file]);
      assert.equal(csa.code, 0, csa.stderr);
      const made = await server.client.get<Dep>(deployments, 'default', name);
      assert.ok((made.metadata.managedFields as Entry[]).some((e) => e.manager === 'kubectl-client-side-apply'));
      writeFileSync(file, manifest(name, { replicas: 1, image: 'nginx:1.27' }));
      const ssa = await kubectl(['apply', '--server-side', '-f', file]);
      assert.equal(ssa.code, 0, ssa.stderr);
      const moved = await server.client.get<Dep>(deployments, 'default', name);
      assert.equal(moved.spec.template.spec.containers[0]!.image, 'nginx:1.27');
      assert.ok((moved.metadata.managedFields as Entry[]).some((e) => e.manager === 'kubectl' && e.operation === 'Apply'));
    });
  }
});
