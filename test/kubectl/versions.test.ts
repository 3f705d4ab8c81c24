// Every stock kubectl from 1.27 to 1.33 applies a manifest: 1.27 and 1.28 read the patch
// strategies from /openapi/v2 (protobuf), later ones from /openapi/v3. The v2 document is read
// back here the way client-go decodes it.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { decodeOpenApiV2, openApiV2ProtobufType } from '../../control-plane/apiserver/openapi-v2.ts';
import { deployments } from '../cli/fixtures.ts';
import { runCommand } from '../cli/run.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const kubectlPath = (minor: number) => `/usr/lib/google-cloud-sdk/bin/kubectl.1.${minor}`;
const versions = [27, 28, 29, 30, 31, 32, 33].filter((v) => existsSync(kubectlPath(v)));

const manifest = (name: string, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 2
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: nginx
        image: ${image}
        ports:
        - containerPort: 80
      - name: sidecar
        image: busybox
        env:
        - {name: MODE, value: lab}
`;

type Dep = KubeObject & { spec: { template: { spec: { containers: { name: string; image: string; env?: { name: string; value: string }[] }[] } } } };
/** GET with the admin token and an Accept header, trusting the test server's CA; the body as bytes. */
function getRaw(server: TestServer, path: string, accept: string): Promise<{ status: number; headers: Record<string, string | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { ca: server.caPem, headers: { authorization: `Bearer ${server.adminToken}`, accept } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: { 'content-type': res.headers['content-type'] }, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

type Named<T> = { name: string; value: T };
type Extension = Named<{ yaml: string }>;

describe('kubectl 1.27 to 1.33 and /openapi/v2', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(async () => { await server.stop(); });

  test('every installed kubectl minor from 1.27 to 1.33 is here to test', () => {
    assert.deepEqual(versions, [27, 28, 29, 30, 31, 32, 33], 'stock kubectl binaries under /usr/lib/google-cloud-sdk/bin');
  });

  test('/openapi/v2 is gnostic protobuf for client-go and Swagger JSON for everyone else', async () => {
    const pb = await getRaw(server, '/openapi/v2', 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf');
    assert.equal(pb.status, 200);
    assert.equal(pb.headers['content-type'], openApiV2ProtobufType);
    const doc = decodeOpenApiV2(pb.body) as {
      swagger: string; paths: { path: Named<Record<string, { vendorExtension?: Extension[] }>>[] };
      definitions: { additionalProperties: Named<{ vendorExtension?: Extension[]; properties?: { additionalProperties: Named<unknown>[] } }>[] };
    };
    assert.equal(doc.swagger, '2.0');
    const deployment = doc.definitions.additionalProperties.find((d) => d.name === 'io.k8s.api.apps.v1.Deployment');
    assert.ok(deployment, 'a Deployment definition');
    const gvk = deployment.value.vendorExtension?.find((e) => e.name === 'x-kubernetes-group-version-kind');
    assert.match(gvk?.value.yaml ?? '', /group: apps[\s\S]*version: v1[\s\S]*kind: Deployment/);
    // The containers list merges by name: the strategic merge patch kubectl 1.27 computes depends on it.
    const text = JSON.stringify(deployment);
    assert.match(text, /"name":"containers","value":\{[^]*?"x-kubernetes-patch-merge-key","value":\{"yaml":"name"\}/);
    const patch = doc.paths.path.find((p) => p.name === '/apis/apps/v1/namespaces/{namespace}/deployments/{name}');
    assert.ok(patch?.value.patch, 'the PATCH operation of a deployment');
    const json = await getRaw(server, '/openapi/v2', 'application/json');
    const swagger = JSON.parse(json.body.toString()) as { swagger: string; definitions: Record<string, { 'x-kubernetes-group-version-kind'?: unknown }> };
    assert.equal(swagger.swagger, '2.0');
    assert.deepEqual(swagger.definitions['io.k8s.api.apps.v1.Deployment']?.['x-kubernetes-group-version-kind'], [{ group: 'apps', version: 'v1', kind: 'Deployment' }]);
  });

  test('kubectl explain teaches with 1.27 (from /openapi/v2) and 1.33 (from /openapi/v3)', async () => {
    for (const minor of [27, 33]) {
      const explain = (field: string) => runCommand(kubectlPath(minor), ['explain', field], { env: { KUBECONFIG: server.kubeconfigPath }, timeoutMs: 60_000 });
      const replicas = await explain('deployment.spec.replicas');
      assert.equal(replicas.code, 0, replicas.stderr);
      assert.match(replicas.stdout, /How many pods to run\. Default 1\./, `kubectl 1.${minor}`);
      const image = await explain('pods.spec.containers.image');
      assert.match(image.stdout, /The image to run/, `kubectl 1.${minor}`);
      const kind = await explain('poddisruptionbudget');
      assert.match(kind.stdout, /limits how many pods of an application evictions\s+may\s+take\s+down/, `kubectl 1.${minor}`);
    }
  });

  for (const minor of versions) {
    test(`kubectl 1.${minor} applies, re-applies unchanged, and applies a new image as a strategic merge`, async () => {
      const name = `web-1-${minor}`;
      const file = join(server.dataDir, `${name}.yaml`);
      const kubectl = (args: string[]) => runCommand(kubectlPath(minor), args, { env: { KUBECONFIG: server.kubeconfigPath }, timeoutMs: 60_000 });
      writeFileSync(file, manifest(name, 'nginx:1.14.2'));
      const first = await kubectl(['apply', '-f', file]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, `deployment.apps/${name} created\n`);
      const same = await kubectl(['apply', '-f', file]);
      assert.equal(same.stdout, `deployment.apps/${name} unchanged\n`, same.stderr);
      // Someone else adds an env var to the sidecar: a strategic merge keeps it, a JSON merge would not.
      await server.client.patch(deployments, 'default', name,
        [{ op: 'add', path: '/spec/template/spec/containers/1/env/-', value: { name: 'ADDED', value: 'by-hand' } }], 'json');
      writeFileSync(file, manifest(name, 'nginx:1.16.1'));
      const second = await kubectl(['apply', '-f', file]);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(second.stdout, `deployment.apps/${name} configured\n`);
      const after = await server.client.get<Dep>(deployments, 'default', name);
      const [nginx, sidecar] = after.spec.template.spec.containers;
      assert.equal(nginx!.image, 'nginx:1.16.1');
      assert.deepEqual(sidecar!.env?.map((e) => e.name), ['MODE', 'ADDED']);
    });
  }
});
