// Issue 10: the API server gives each Service a cluster IP from the service CIDR and node ports
// from 30000-32767, honours requested ones when free, answers a taken one with a 422 naming the
// field, keeps allocations across updates and restarts, and frees them on delete.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { ServiceSpec } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { parseCidr, parseIPv4 } from '../../control-plane/api/ip.ts';
import { Registry } from '../../control-plane/apiserver/registry.ts';
import { MemoryStore } from '../../control-plane/store/memory.ts';
import { RoutedStore } from '../../control-plane/store/routed.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { runCommand } from '../cli/run.ts';
import { buildTestApp, call, deploymentManifest } from '../support/app.ts';
import { startTestServer } from '../support/server.ts';

const services = resourceFor('', 'services')!;
const url = '/api/v1/namespaces/default/services';
const mergePatch = { contentType: 'application/merge-patch+json' };

type ServiceBody = { metadata: { name: string }; spec: ServiceSpec };
const svc = (name: string, spec: Partial<ServiceSpec> = {}) => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80 }], ...spec },
});

function inServiceCidr(ip: string | undefined): boolean {
  const n = ip === undefined ? undefined : parseIPv4(ip);
  const cidr = parseCidr('10.43.0.0/16')!;
  return n !== undefined && n > cidr.base && n < cidr.base + cidr.size - 1;
}

function assertInvalid(res: { status: number; body: any }, field: string, message: RegExp): void { // eslint-disable-line @typescript-eslint/no-explicit-any -- a Status read from JSON
  assert.equal(res.status, 422, JSON.stringify(res.body));
  const cause = (res.body.details?.causes ?? []).find((c: { field?: string }) => c.field === field);
  assert.ok(cause, `no cause for ${field}: ${JSON.stringify(res.body.details)}`);
  assert.match(cause.message, message);
}

let app: FastifyInstance;
before(async () => { app = await buildTestApp(); });
after(async () => { await app.close(); });

describe('cluster IPs', () => {
  test('a new Service gets a cluster IP from 10.43.0.0/16 and Kubernetes\' defaults', async () => {
    const res = await call(app, 'POST', url, svc('web'));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const spec = res.body.spec as ServiceSpec;
    assert.ok(inServiceCidr(spec.clusterIP), spec.clusterIP);
    assert.notEqual(spec.clusterIP, '10.43.0.1');
    assert.notEqual(spec.clusterIP, '10.43.0.10');
    assert.deepEqual(spec.clusterIPs, [spec.clusterIP]);
    assert.deepEqual(spec.ipFamilies, ['IPv4']);
    assert.equal(spec.ipFamilyPolicy, 'SingleStack');
    assert.equal(spec.internalTrafficPolicy, 'Cluster');
    assert.equal(spec.type, 'ClusterIP');
    assert.equal(spec.sessionAffinity, 'None');
    assert.deepEqual(spec.ports, [{ port: 80, protocol: 'TCP', targetPort: 80 }]);
    assert.equal((await call(app, 'GET', `${url}/web`)).body.spec.clusterIP, spec.clusterIP);
  });

  test('a requested IP is honoured when free; taken, out of range or malformed it is a 422 on spec.clusterIPs', async () => {
    const dns = await call(app, 'POST', url, svc('dns', { clusterIP: '10.43.0.10' }));
    assert.equal(dns.status, 201);
    assert.equal(dns.body.spec.clusterIP, '10.43.0.10');
    assertInvalid(await call(app, 'POST', url, svc('dns2', { clusterIP: '10.43.0.10' })), 'spec.clusterIPs', /provided IP is already allocated/);
    assertInvalid(await call(app, 'POST', url, svc('far', { clusterIP: '10.96.0.10' })), 'spec.clusterIPs', /not in the valid range/);
    assertInvalid(await call(app, 'POST', url, svc('net', { clusterIP: '10.43.0.0' })), 'spec.clusterIPs', /not in the valid range/);
    assertInvalid(await call(app, 'POST', url, svc('bad', { clusterIP: 'not-an-ip' })), 'spec.clusterIPs', /valid IP address/);
    assertInvalid(await call(app, 'POST', url, svc('two', { clusterIP: '10.43.0.20', clusterIPs: ['10.43.0.21'] })), 'spec.clusterIPs[0]', /same as `clusterIP`/);
  });

  test('a dry run allocates nothing: the same IP can then be taken for real', async () => {
    assert.equal((await call(app, 'POST', `${url}?dryRun=All`, svc('trial', { clusterIP: '10.43.7.7' }))).status, 201);
    assert.equal((await call(app, 'POST', url, svc('real', { clusterIP: '10.43.7.7' }))).status, 201);
  });

  test('an IP is free again once its Service is deleted', async () => {
    assert.equal((await call(app, 'POST', url, svc('first', { clusterIP: '10.43.9.9' }))).status, 201);
    assertInvalid(await call(app, 'POST', url, svc('second', { clusterIP: '10.43.9.9' })), 'spec.clusterIPs', /already allocated/);
    assert.equal((await call(app, 'DELETE', `${url}/first`)).status, 200);
    assert.equal((await call(app, 'POST', url, svc('second', { clusterIP: '10.43.9.9' }))).status, 201);
  });

  test('the cluster IP is immutable, and an update that omits it keeps it', async () => {
    const created = (await call(app, 'POST', url, svc('fixed'))).body as ServiceBody;
    const ip = created.spec.clusterIP;
    const { clusterIP: _ip, clusterIPs: _ips, ...withoutIP } = created.spec;
    const put = await call(app, 'PUT', `${url}/fixed`, { ...created, spec: { ...withoutIP, selector: { app: 'other' } } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.spec.clusterIP, ip);
    assert.deepEqual(put.body.spec.clusterIPs, [ip]);
    assertInvalid(await call(app, 'PATCH', `${url}/fixed`, { spec: { clusterIP: '10.43.200.200', clusterIPs: null } }, mergePatch), 'spec.clusterIP', /immutable/);
    assertInvalid(await call(app, 'PATCH', `${url}/fixed`, { spec: { clusterIP: 'None', clusterIPs: null } }, mergePatch), 'spec.clusterIP', /immutable/);
  });

  test('headless Services (clusterIP None) take no address', async () => {
    for (const name of ['headless-a', 'headless-b']) {
      const res = await call(app, 'POST', url, svc(name, { clusterIP: 'None' }));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.spec.clusterIP, 'None');
      assert.deepEqual(res.body.spec.clusterIPs, ['None']);
    }
    assert.equal((await call(app, 'POST', url, svc('headless-noports', { clusterIP: 'None', ports: [] }))).status, 201);
  });

  test('a small range hands out every address but .1 and .10 once, then answers 422', () => {
    const store = new MemoryStore();
    const registry = new Registry(store, undefined, { serviceCidr: '10.99.0.0/28' });
    registry.create(resourceFor('', 'namespaces')!, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    const ips = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const { object } = registry.create(services, 'default', svc(`s${i}`));
      ips.add((object.spec as ServiceSpec).clusterIP!);
    }
    assert.equal(ips.size, 12);
    assert.ok(!ips.has('10.99.0.1') && !ips.has('10.99.0.10') && !ips.has('10.99.0.0') && !ips.has('10.99.0.15'));
    assert.throws(() => registry.create(services, 'default', svc('full')), (err: { code?: number; message?: string }) => err.code === 422 && /range is full/.test(err.message ?? ''));
    const freed = (registry.get(services, 'default', 's3').spec as ServiceSpec).clusterIP;
    registry.delete(services, 'default', 's3');
    assert.equal((registry.create(services, 'default', svc('again')).object.spec as ServiceSpec).clusterIP, freed);
    store.close();
  });
});

describe('node ports', () => {
  test('NodePort Services get a port in 30000-32767 per service port', async () => {
    const res = await call(app, 'POST', url, svc('np', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const ports = (res.body.spec as ServiceSpec).ports!;
    for (const p of ports) assert.ok(p.nodePort! >= 30000 && p.nodePort! <= 32767, String(p.nodePort));
    assert.notEqual(ports[0]!.nodePort, ports[1]!.nodePort);
    assert.equal(res.body.spec.externalTrafficPolicy, 'Cluster');
  });

  test('a requested node port taken or out of range is a 422 on spec.ports[i].nodePort', async () => {
    assert.equal((await call(app, 'POST', url, svc('np-a', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }))).status, 201);
    assertInvalid(await call(app, 'POST', url, svc('np-b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] })), 'spec.ports[0].nodePort', /provided port is already allocated/);
    assertInvalid(await call(app, 'POST', url, svc('np-c', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, nodePort: 29999 }] })),
      'spec.ports[1].nodePort', /not in the valid range/);
    assertInvalid(await call(app, 'POST', url, svc('np-d', { ports: [{ port: 80, nodePort: 30081 }] })), 'spec.ports[0].nodePort', /may not be used/);
  });

  test('node ports survive an update that omits them, and are freed by a change to ClusterIP and by delete', async () => {
    const created = (await call(app, 'POST', url, svc('np-keep', { type: 'NodePort', ports: [{ port: 80, nodePort: 31111 }] }))).body as ServiceBody;
    // As kubectl apply sends it: no nodePort, no clusterIP.
    const applied = await call(app, 'PUT', `${url}/np-keep`, { ...created, spec: { type: 'NodePort', selector: { app: 'np-keep' }, ports: [{ port: 80, targetPort: 8080 }] } });
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    assert.equal(applied.body.spec.ports[0].nodePort, 31111);
    assert.equal(applied.body.spec.ports[0].targetPort, 8080);
    assert.equal(applied.body.spec.clusterIP, created.spec.clusterIP);

    const toClusterIP = await call(app, 'PATCH', `${url}/np-keep`, { spec: { type: 'ClusterIP' } }, mergePatch);
    assert.equal(toClusterIP.status, 200, JSON.stringify(toClusterIP.body));
    assert.equal(toClusterIP.body.spec.ports[0].nodePort, undefined);
    assert.equal((await call(app, 'POST', url, svc('np-takes', { type: 'NodePort', ports: [{ port: 80, nodePort: 31111 }] }))).status, 201);

    const back = await call(app, 'PATCH', `${url}/np-keep`, { spec: { type: 'NodePort' } }, mergePatch);
    assert.equal(back.status, 200);
    assert.ok(back.body.spec.ports[0].nodePort >= 30000 && back.body.spec.ports[0].nodePort !== 31111);

    assert.equal((await call(app, 'DELETE', `${url}/np-takes`)).status, 200);
    assert.equal((await call(app, 'POST', url, svc('np-after', { type: 'NodePort', ports: [{ port: 80, nodePort: 31111 }] }))).status, 201);
  });

  test('a change to ExternalName gives the cluster IP back; ExternalName needs externalName', async () => {
    const created = (await call(app, 'POST', url, svc('ext', { clusterIP: '10.43.50.50' }))).body as ServiceBody;
    assert.equal(created.spec.clusterIP, '10.43.50.50');
    assertInvalid(await call(app, 'PATCH', `${url}/ext`, { spec: { type: 'ExternalName' } }, mergePatch), 'spec.externalName', /Required/);
    const ext = await call(app, 'PATCH', `${url}/ext`, { spec: { type: 'ExternalName', externalName: 'db.example.com' } }, mergePatch);
    assert.equal(ext.status, 200, JSON.stringify(ext.body));
    assert.equal(ext.body.spec.clusterIP, undefined);
    assert.equal((await call(app, 'POST', url, svc('ext-ip', { clusterIP: '10.43.50.50' }))).status, 201);
  });
});

describe('service validation', () => {
  test('ports need unique names when there are several, and selectors are labels', async () => {
    assertInvalid(await call(app, 'POST', url, svc('v1', { ports: [{ port: 80 }, { port: 81 }] })), 'spec.ports[0].name', /Required/);
    assertInvalid(await call(app, 'POST', url, svc('v2', { ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] })), 'spec.ports[1].name', /Duplicate/);
    assertInvalid(await call(app, 'POST', url, svc('v3', { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] })), 'spec.ports[1]', /Duplicate/);
    assertInvalid(await call(app, 'POST', url, svc('v4', { selector: { 'bad key': 'x' } })), 'spec.selector', /qualified name|alphanumeric/);
    assertInvalid(await call(app, 'POST', url, svc('v5', { ports: [] })), 'spec.ports', /Required/);
    // A TCP and a UDP port may share a number (DNS does).
    assert.equal((await call(app, 'POST', `${url}?dryRun=All`, svc('v6', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53 }] }))).status, 201);
  });
});

describe('allocations survive a restart', () => {
  test('a new server on the same database sees the taken IPs and node ports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labkube-svc-alloc-'));
    const open = () => buildTestApp({ store: new RoutedStore(new SqliteStore({ path: join(dir, 'state.db'), compactIntervalMs: 0 }), new MemoryStore(), ['/coordination.k8s.io/leases/']) });
    try {
      const first = await open();
      const created = await call(first, 'POST', url, svc('durable', { type: 'NodePort' }));
      assert.equal(created.status, 201);
      const { clusterIP, ports } = created.body.spec as ServiceSpec;
      await first.close();

      const second = await open();
      try {
        assert.equal((await call(second, 'GET', `${url}/durable`)).body.spec.clusterIP, clusterIP);
        assertInvalid(await call(second, 'POST', url, svc('copycat', { clusterIP })), 'spec.clusterIPs', /already allocated/);
        assertInvalid(await call(second, 'POST', url, svc('copycat', { type: 'NodePort', ports: [{ port: 80, nodePort: ports![0]!.nodePort! }] })), 'spec.ports[0].nodePort', /already allocated/);
        const fresh = await call(second, 'POST', url, svc('fresh', { type: 'NodePort' }));
        assert.equal(fresh.status, 201);
        assert.notEqual(fresh.body.spec.clusterIP, clusterIP);
        assert.notEqual(fresh.body.spec.ports[0].nodePort, ports![0]!.nodePort);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kubectl expose', { timeout: 90_000 }, () => {
  test('kubectl expose deployment web --port 80 --type NodePort makes a NodePort Service selecting its pods', async () => {
    const server = await startTestServer();
    try {
      await server.client.create(resourceFor('apps', 'deployments')!, 'default', deploymentManifest('web', 1) as unknown as KubeObject);
      const kubectl = (args: string[]) => runCommand('kubectl', args, { env: { KUBECONFIG: server.kubeconfigPath }, timeoutMs: 40_000 });
      const out = await kubectl(['expose', 'deployment', 'web', '--port', '80', '--type', 'NodePort']);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /service\/web exposed/);
      const created = await server.client.get(services, 'default', 'web');
      const spec = created.spec as ServiceSpec;
      assert.equal(spec.type, 'NodePort');
      assert.deepEqual(spec.selector, { app: 'web' });
      assert.ok(inServiceCidr(spec.clusterIP), spec.clusterIP);
      assert.equal(spec.ports![0]!.port, 80);
      assert.equal(spec.ports![0]!.targetPort, 80);
      assert.ok(spec.ports![0]!.nodePort! >= 30000 && spec.ports![0]!.nodePort! <= 32767);
    } finally {
      await server.stop();
    }
  });
});
