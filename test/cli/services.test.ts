// labctl for Services, as a person runs it against a running control plane with hollow nodes:
// expose, get svc / endpoints / endpointslices with kubectl's columns, describe svc, and
// delete -f on a kind whose plural is not its name plus "s".
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { labctl, tableRows } from './run.ts';

const services = resourceFor('', 'services')!;
const endpointsResource = resourceFor('', 'endpoints')!;

describe('labctl expose, get and describe for Services', { timeout: 1_800_000 }, () => {
  let server: TestServer;
  let hollow: HollowNode[];
  let kc: string;
  before(async () => {
    server = await startTestServer();
    kc = server.kubeconfigPath;
    hollow = await startHollowNodes(server, 2, { name: 'svc' });
    const created = await labctl(kc, ['create', 'deployment', 'web', '--image', 'nginx:latest', '--replicas', '2', '--port', '80']);
    assert.equal(created.code, 0, created.stderr);
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  test('expose deployment builds the Service kubectl would: selector, labels, ports, type', async () => {
    const out = await labctl(kc, ['expose', 'deployment', 'web', '--port', '8080', '--target-port', '80', '--type', 'NodePort']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, 'service/web exposed\n');
    const svc = await server.client.get(services, 'default', 'web');
    const spec = svc.spec as { type: string; selector: Record<string, string>; ports: { port: number; targetPort: number; protocol: string; name?: string }[] };
    assert.deepEqual(svc.metadata.labels, { app: 'web' });
    assert.equal(spec.type, 'NodePort');
    assert.deepEqual(spec.selector, { app: 'web' });
    assert.deepEqual(spec.ports.map(({ port, targetPort, protocol, name }) => ({ port, targetPort, protocol, name })), [{ port: 8080, targetPort: 80, protocol: 'TCP', name: undefined }]);

    const introspected = await labctl(kc, ['expose', 'deploy/web', '--name', 'web-default']);
    assert.equal(introspected.code, 0, introspected.stderr);
    const port = ((await server.client.get(services, 'default', 'web-default')).spec as { ports: { port: number; targetPort: number }[] }).ports;
    assert.deepEqual(port.map((p) => [p.port, p.targetPort]), [[80, 80]], 'without --port, the container port');
  });

  test('expose without a port to find fails as kubectl does', async () => {
    await labctl(kc, ['create', 'deployment', 'portless', '--image', 'busybox:latest']);
    const out = await labctl(kc, ['expose', 'deployment', 'portless']);
    assert.equal(out.code, 1);
    assert.equal(out.stderr, "error: couldn't find port via --port flag or introspection\n");
    const missing = await labctl(kc, ['expose', 'deployment', 'nope', '--port', '80']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NotFound/);
  });

  test('get svc, endpoints and endpointslices print kubectl\'s columns', async () => {
    const svc = tableRows((await labctl(kc, ['get', 'svc'])).stdout);
    assert.deepEqual(svc[0], ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
    const web = svc.find((r) => r[0] === 'web')!;
    assert.equal(web[1], 'NodePort');
    assert.match(web[2]!, /^(\d+\.\d+\.\d+\.\d+|<none>)$/);
    assert.equal(web[3], '<none>');
    assert.match(web[4]!, /^8080(:\d+)?\/TCP$/);
    const wide = tableRows((await labctl(kc, ['get', 'services', '-o', 'wide'])).stdout);
    assert.deepEqual(wide[0], ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR']);
    assert.equal(wide.find((r) => r[0] === 'web')![6], 'app=web');

    const ep = await eventually(async () => {
      const rows = tableRows((await labctl(kc, ['get', 'endpoints', 'web'])).stdout);
      return rows[1] && /^\d+\.\d+\.\d+\.\d+:80,\d+\.\d+\.\d+\.\d+:80$/.test(rows[1][1] ?? '') && rows;
    }, 60_000, 'two ready endpoints of web');
    assert.deepEqual(ep[0], ['NAME', 'ENDPOINTS', 'AGE']);

    const slices = tableRows((await labctl(kc, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web'])).stdout);
    assert.deepEqual(slices[0], ['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
    assert.match(slices[1]![0]!, /^web-[a-z0-9]{5}$/);
    assert.deepEqual(slices[1]!.slice(1, 3), ['IPv4', '80']);
    assert.match(slices[1]![3]!, /^\d+\.\d+\.\d+\.\d+,\d+\.\d+\.\d+\.\d+$/);
  });

  test('describe svc shows what kubectl describe shows', async () => {
    const out = await eventually(async () => {
      const run = await labctl(kc, ['describe', 'svc', 'web']);
      return /^Endpoints:\s+[\d.]+:80,[\d.]+:80$/m.test(run.stdout) && run;
    }, 60_000, 'both endpoints in describe');
    assert.equal(out.code, 0, out.stderr);
    const labels = out.stdout.trimEnd().split('\n').map((l) => l.split(':')[0]);
    assert.deepEqual(labels.filter((l) => !['IP Family Policy', 'IP Families', 'IPs', 'NodePort', 'External Traffic Policy', 'Internal Traffic Policy'].includes(l!)), [
      'Name', 'Namespace', 'Labels', 'Annotations', 'Selector', 'Type', 'IP', 'Port', 'TargetPort', 'Endpoints', 'Session Affinity', 'Events',
    ], 'the fields in kubectl\'s order (those the API server may not fill yet aside)');
    assert.match(out.stdout, /^Name:\s+web$/m);
    assert.match(out.stdout, /^Selector:\s+app=web$/m);
    assert.match(out.stdout, /^Type:\s+NodePort$/m);
    assert.match(out.stdout, /^Port:\s+<unset>  8080\/TCP$/m);
    assert.match(out.stdout, /^TargetPort:\s+80\/TCP$/m);
    assert.match(out.stdout, /^Session Affinity:\s+None$/m);
    // Every value starts in one column, as kubectl's tabwriter aligns them.
    const columns = new Set(out.stdout.split('\n').filter((l) => /^\S[^:]*:\s+\S/.test(l)).map((l) => l.search(/(?<=:\s+)\S/)));
    assert.equal(columns.size, 1, out.stdout);
  });

  test('delete -f finds Endpoints by their real plural', async () => {
    const file = join(server.dataDir, 'external.yaml');
    // Endpoints first: deleting a Service deletes its Endpoints too (the controller does, as upstream).
    writeFileSync(file, [
      'apiVersion: v1', 'kind: Endpoints', 'metadata: { name: external }', 'subsets: [{ addresses: [{ ip: 192.168.1.10 }], ports: [{ port: 5432 }] }]', '---',
      'apiVersion: v1', 'kind: Service', 'metadata: { name: external }', 'spec: { ports: [{ port: 5432 }] }', '',
    ].join('\n'));
    const applied = await labctl(kc, ['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    const got = tableRows((await labctl(kc, ['get', 'ep', 'external'])).stdout);
    assert.equal(got[1]![1], '192.168.1.10:5432', 'a Service without selector keeps the Endpoints written for it');
    const deleted = await labctl(kc, ['delete', '-f', file]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, 'endpoints "external" deleted\nservice "external" deleted\n');
    await assert.rejects(server.client.get(endpointsResource, 'default', 'external'), /not found/);
  });
});
