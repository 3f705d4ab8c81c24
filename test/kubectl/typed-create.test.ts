// kubectl's typed `create` commands: kubectl 1.32 and later send the object as Kubernetes
// protobuf, 1.31 and earlier as JSON. Both make the same objects; ConfigMaps and Secrets as the
// Kubernetes tutorials make them; drain's evictions from 1.33 (protobuf too).
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { runCommand } from '../cli/run.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const kubectlPath = (minor: number) => `/usr/lib/google-cloud-sdk/bin/kubectl.1.${minor}`;
const deployments = resourceFor('apps', 'deployments')!;
const secrets = resourceFor('', 'secrets')!;
const configmaps = resourceFor('', 'configmaps')!;

describe('kubectl create, JSON (1.31) and protobuf (1.33)', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(async () => { await server.stop(); });
  const kubectl = (minor: number, args: string[]) => runCommand(kubectlPath(minor), args, { env: { KUBECONFIG: server.kubeconfigPath }, timeoutMs: 60_000 });

  test('kubectl 1.31 and 1.33 are installed', () => {
    assert.ok(existsSync(kubectlPath(31)) && existsSync(kubectlPath(33)));
  });

  test('create deployment, namespace, service and pdb: the same objects either way, no warnings', async () => {
    for (const minor of [31, 33]) {
      for (const args of [
        ['create', 'deployment', `web${minor}`, '--image=nginx:1.25', '--replicas=0', '--port=80'],
        ['create', 'namespace', `lab${minor}`],
        ['create', 'service', 'nodeport', `svc${minor}`, '--tcp=80:8080'],
        ['create', 'pdb', `pdb${minor}`, '--selector=app=web', '--min-available=1'],
      ]) {
        const out = await kubectl(minor, args);
        assert.equal(out.code, 0, `kubectl 1.${minor} ${args.join(' ')}: ${out.stderr}`);
        assert.equal(out.stderr, '', `kubectl 1.${minor} ${args.join(' ')} printed warnings`);
      }
    }
    const a = await server.client.get<KubeObject & { spec: Record<string, unknown> }>(deployments, 'default', 'web31');
    const b = await server.client.get<KubeObject & { spec: Record<string, unknown> }>(deployments, 'default', 'web33');
    assert.equal(b.spec.replicas, 0, 'a pointer set to zero stays zero');
    // kubectl's JSON carries the template's `creationTimestamp: null`; protobuf has no null.
    delete (a.spec as { template: { metadata: { creationTimestamp?: unknown } } }).template.metadata.creationTimestamp;
    assert.deepEqual(JSON.parse(JSON.stringify(b.spec).replaceAll('web33', 'web31')), a.spec);
    assert.equal(b.metadata.namespace, 'default');
  });

  for (const minor of [31, 33]) {
    test(`kubectl 1.${minor}: create configmap and secret from literals and files, as the tutorials do`, async () => {
      const file = join(server.dataDir, 'game.properties');
      writeFileSync(file, 'enemies=aliens\nlives=3\n');
      const cm = await kubectl(minor, ['create', 'configmap', `game${minor}`, '--from-literal=mode=easy', `--from-file=${file}`]);
      assert.equal(cm.code, 0, cm.stderr);
      const made = await server.client.get<KubeObject & { data: Record<string, string> }>(configmaps, 'default', `game${minor}`);
      assert.deepEqual(made.data, { mode: 'easy', 'game.properties': 'enemies=aliens\nlives=3\n' });
      const secret = await kubectl(minor, ['create', 'secret', 'generic', `db${minor}`, '--from-literal=password=s3cret']);
      assert.equal(secret.code, 0, secret.stderr);
      const stored = await server.client.get<KubeObject & { data: Record<string, string>; type: string }>(secrets, 'default', `db${minor}`);
      assert.equal(Buffer.from(stored.data.password!, 'base64').toString(), 's3cret');
      assert.equal(stored.type, 'Opaque');
      const listed = await kubectl(minor, ['get', 'configmap,secret']);
      assert.match(listed.stdout, new RegExp(`configmap/game${minor}\\s+2\\s`));
      assert.match(listed.stdout, new RegExp(`secret/db${minor}\\s+Opaque\\s+1\\s`));
    });
  }
});
