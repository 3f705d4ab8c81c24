import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isNotFound } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { deploymentManifest, podManifest } from '../support/app.ts';

const namespaces = resourceFor('', 'namespaces')!;
const pods = resourceFor('', 'pods')!;
const deployments = resourceFor('apps', 'deployments')!;
const services = resourceFor('', 'services')!;
let server: TestServer;
before(async () => { server = await startTestServer(); });
after(async () => { await server.stop(); });

test('deleting a namespace deletes everything in it, then the namespace', async () => {
  const { client } = server;
  await client.create(namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } });
  await client.create(pods, 'lab', podManifest('p1') as KubeObject);
  await client.create(deployments, 'lab', deploymentManifest('web') as KubeObject);
  await client.create(services, 'lab', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } });
  await client.delete(namespaces, undefined, 'lab');
  await eventually(async () => {
    try { await client.get(namespaces, undefined, 'lab'); return false; } catch (err) { return isNotFound(err); }
  }, 10_000, 'namespace lab to be gone');
  for (const r of [pods, deployments, services]) assert.equal((await client.list(r, 'lab')).items.length, 0, r.plural);
  assert.equal((await client.get(namespaces, undefined, 'default')).metadata.name, 'default');
});
